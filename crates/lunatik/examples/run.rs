//! Runs a Lua file in a main state with lunatik registered:
//! `cargo run -p lunatik --example run -- ROOT FILE`.
fn main() -> mlua::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: run ROOT FILE");
        std::process::exit(2);
    };
    let lua = mlua::Lua::new();
    lunatik::register(&lua, lunatik::Config::new(root))?;
    let src = std::fs::read_to_string(file).map_err(mlua::Error::external)?;
    if let Err(e) = lua.load(src).set_name(format!("@{file}")).exec() {
        eprintln!("{}", lunatik::message(&e));
        std::process::exit(1);
    }
    Ok(())
}
