// The bundle's entry (bin/diag runs it with LD_LIBRARY_PATH set to the bundle's lib/, which
// ld.so has read by now): the processes diag starts, the traced command above all, get the
// environment the user had, not the bundle's libraries.
if (process.env.DIAG_USER_LD_LIBRARY_PATH === undefined) delete process.env.LD_LIBRARY_PATH
else process.env.LD_LIBRARY_PATH = process.env.DIAG_USER_LD_LIBRARY_PATH
delete process.env.DIAG_USER_LD_LIBRARY_PATH
await import('./run.js')
