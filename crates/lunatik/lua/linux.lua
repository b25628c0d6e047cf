-- linux: the small part of upstream Lunatik's `linux` module that socket
-- servers use: errno numbers (what socket calls raise), `schedule` (sleep
-- the calling thread for a number of milliseconds; sleepable runtimes
-- only) and the task-state names `schedule` accepts (ignored here: a
-- sleeping ned thread is always interruptible by thread:stop() once it
-- wakes).
local thread = require("thread")

local linux = {}

linux.errno = {
  PERM = 1, NOENT = 2, INTR = 4, IO = 5, BADF = 9, AGAIN = 11, NOMEM = 12,
  ACCES = 13, BUSY = 16, EXIST = 17, INVAL = 22, MFILE = 24, PIPE = 32,
  NOSYS = 38, NOTSOCK = 88, ADDRINUSE = 98, ADDRNOTAVAIL = 99, NETUNREACH = 101,
  CONNABORTED = 103, CONNRESET = 104, ISCONN = 106, NOTCONN = 107,
  TIMEDOUT = 110, CONNREFUSED = 111, ALREADY = 114, INPROGRESS = 115,
}
linux.errno.WOULDBLOCK = linux.errno.AGAIN

linux.task = { RUNNING = 0, INTERRUPTIBLE = 1, UNINTERRUPTIBLE = 2, KILLABLE = 258, IDLE = 1026 }

function linux.schedule(ms)
  thread.sleep(ms or 0)
end

return linux
