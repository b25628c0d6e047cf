-- Sums every number it is resumed with; returns when resumed with "done".
return function(x)
  local sum = 0
  while x ~= "done" do
    sum = sum + x
    x = coroutine.yield(sum)
  end
  return "done:" .. sum
end
