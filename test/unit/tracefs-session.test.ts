import {describe, expect, it} from 'vitest'

import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {BadInputError, NotSupportedError, PermissionError} from '../../src/errors.js'
import {checkFunctionPattern} from '../../src/tracefs/functions.js'
import {UndoLog} from '../../src/system/undo.js'
import {MemoryFiles} from '../helpers/memory-files.js'

const T = '/sys/kernel/tracing'

function session() {
  const files = new MemoryFiles()
  files.dirs.add(`${T}/instances`)
  const undo = new UndoLog()
  return {files, undo, tracefs: new TracefsSession(files, T, 4242, undo)}
}

describe('TracefsSession', () => {
  it.each(['vfs_read\nvfs_write', 'a\0b', 'tcp*\r', 'é'])('refuses to write %j, and writes nothing', async (text) => {
    const {files, tracefs} = session()
    await expect(tracefs.write('set_ftrace_filter', text)).rejects.toBeInstanceOf(BadInputError)
    expect(files.writes).toEqual([])
  })

  it.each(['../../etc/passwd', 'instances/../../x', '/abs/path', 'a b'])('refuses the path %j', async (path) => {
    const {files, tracefs} = session()
    await expect(tracefs.write(path, '1')).rejects.toBeInstanceOf(BadInputError)
    expect(files.writes).toEqual([])
  })

  it('names what it defines with its pid and undoes it all, newest first', async () => {
    const {files, undo, tracefs} = session()
    const dir = await tracefs.instance('syscount')
    expect(dir).toBe('instances/diag-4242-syscount')
    const event = await tracefs.kprobe('funccount', 'vfs_read', 'vfs_read')
    expect(event).toBe('diag_4242_funccount/vfs_read')
    await tracefs.addTrigger(dir, 'raw_syscalls/sys_enter', 'hist:keys=id.syscall')
    await tracefs.enableEvent(dir, 'sched/sched_switch')
    expect(await undo.unwind()).toEqual([])
    expect(files.writes.map((w) => `${w.path.slice(T.length + 1)} ${w.mode} ${w.text}`)).toEqual([
      'kprobe_events append p:diag_4242_funccount/vfs_read vfs_read',
      'instances/diag-4242-syscount/events/raw_syscalls/sys_enter/trigger append hist:keys=id.syscall',
      'instances/diag-4242-syscount/events/sched/sched_switch/enable truncate 1',
      'instances/diag-4242-syscount/events/sched/sched_switch/enable truncate 0',
      'instances/diag-4242-syscount/events/raw_syscalls/sys_enter/trigger append !hist:keys=id.syscall',
      'kprobe_events append -:diag_4242_funccount/vfs_read',
    ])
    expect(files.dirs.has(`${T}/${dir}`)).toBe(false)
  })

  it('turns refusals into typed errors', async () => {
    const {files, tracefs} = session()
    files.refuse.set(`${T}/set_ftrace_filter`, 'EPERM')
    files.refuse.set(`${T}/kprobe_events`, 'EINVAL')
    await expect(tracefs.write('set_ftrace_filter', 'vfs_read')).rejects.toBeInstanceOf(PermissionError)
    await expect(tracefs.write('kprobe_events', 'p:x/y nosuch', 'append')).rejects.toBeInstanceOf(NotSupportedError)
  })
})

describe('function patterns', () => {
  it.each(['vfs_r*', 'tcp_v4_?cv', 'ext4_file_write_iter', 'do_sys_open.isra*'])('accepts %j', (pattern) => {
    expect(() => checkFunctionPattern(pattern)).not.toThrow()
  })
  it.each(['vfs_read vfs_write', 'vfs_read\n*', 'tcp*:mod:ext4', '!vfs_read', 'vfs_read;ls', '*', '**', '', 'p:x/y vfs_read'])('refuses %j', (pattern) => {
    expect(() => checkFunctionPattern(pattern)).toThrow(BadInputError)
  })
})
