import {type Capability, type ProbeContext, available, unavailable, unknown} from '../types.js'

// Bit numbers from include/uapi/linux/capability.h.
const CAP_SYS_ADMIN = 21
const CAP_PERFMON = 38
const CAP_BPF = 39

async function effectiveCapabilities(ctx: ProbeContext): Promise<bigint | undefined> {
  const status = await ctx.files.read('/proc/self/status').catch(() => '')
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]
  return hex === undefined ? undefined : BigInt(`0x${hex}`)
}

function processCapability(name: string, bit: number, minKernel: string, use: string): Capability {
  return {
    name: `cap-${name.toLowerCase().replace(/^cap_/, '').replace(/_/g, '-')}`,
    section: 'privileges',
    description: `${name} in this process (${use})`,
    minKernel,
    live: false,
    setAtRunTime: 'the capabilities of the process that runs diag',
    probe: async (ctx) => {
      const caps = await effectiveCapabilities(ctx)
      if (caps === undefined) return unknown('file', 'no CapEff in /proc/self/status')
      return (caps >> BigInt(bit)) & 1n
        ? available('file', `CapEff has bit ${bit}`)
        : unavailable('file', `CapEff lacks bit ${bit}`)
    },
  }
}

export const PRIVILEGE_CAPABILITIES: Capability[] = [
  {
    name: 'root',
    section: 'privileges',
    description: 'running as root (uid 0)',
    minKernel: null,
    live: false,
    setAtRunTime: 'the user that runs diag',
    probe: () => {
      const uid = process.getuid?.()
      return uid === 0 ? available('probe', 'uid 0', 0) : unavailable('probe', `uid ${uid}`, uid)
    },
  },
  processCapability('CAP_SYS_ADMIN', CAP_SYS_ADMIN, '2.6.12', 'tracefs, BPF before 5.8'),
  processCapability('CAP_BPF', CAP_BPF, '5.8', 'BPF without CAP_SYS_ADMIN'),
  processCapability('CAP_PERFMON', CAP_PERFMON, '5.8', 'tracing BPF programs and perf without CAP_SYS_ADMIN'),
  {
    name: 'unprivileged-bpf',
    section: 'privileges',
    description: 'BPF for unprivileged users (kernel.unprivileged_bpf_disabled = 0)',
    minKernel: '4.4',
    live: false,
    setAtRunTime: 'the sysctl kernel.unprivileged_bpf_disabled',
    probe: async (ctx) => {
      const value = (await ctx.files.read('/proc/sys/kernel/unprivileged_bpf_disabled').catch(() => '')).trim()
      if (!value) return unknown('file', 'no /proc/sys/kernel/unprivileged_bpf_disabled')
      return value === '0'
        ? available('file', 'unprivileged_bpf_disabled = 0', 0)
        : unavailable('file', `unprivileged_bpf_disabled = ${value}${value === '2' ? ' (admin may re-enable)' : ' (until reboot)'}`, Number(value))
    },
  },
  {
    name: 'lockdown',
    section: 'privileges',
    description: 'kernel lockdown LSM (its mode limits tracing and BPF)',
    minKernel: '5.4',
    config: ['SECURITY_LOCKDOWN_LSM'],
    live: false,
    setAtRunTime: 'the lockdown mode, set at boot',
    probe: async (ctx) => {
      const text = await ctx.files.read('/sys/kernel/security/lockdown').catch(() => undefined)
      if (text === undefined) return unknown('file', 'no /sys/kernel/security/lockdown (securityfs not mounted?)')
      const mode = /\[(\w+)\]/.exec(text)?.[1] ?? 'unknown'
      const effect = mode === 'none' ? 'no limits' : 'kprobes, BPF reads of kernel memory and more are refused'
      return available('file', `mode ${mode}: ${effect}`, mode)
    },
  },
]
