-- Never finishes loading: only the instruction budget stops it.
while true do pcall(function() while true do end end) end
