-- Returns once: the body is dead afterwards.
return function(a, b) return a + b end
