local x = 1
error("load failed " .. x)
