// Every failure diag expects has a type, and every type has its own exit code, so runbooks can
// tell "this host cannot do it" from "you typed it wrong" without parsing messages.

export const EXIT = {
  ok: 0,
  internal: 1, // a bug in diag: unexpected, reported with a stack trace
  badInput: 2, // flags, patterns or arguments diag refuses before touching the kernel
  notSupported: 3, // no backend can answer this on this kernel
  permission: 4, // the kernel refused (EPERM/EACCES, missing capability, lockdown)
  busy: 5, // another tracer holds a resource diag will not trample
  backendFailed: 6, // a backend started and then failed
  setupIncomplete: 7, // diag doctor: the set-up lacks something (the report names it and its fix)
  // diag runbook run, diag fleet run RUNBOOK: every check passed, but a report file could not be
  // written after the run (a failed or incomplete run keeps its own 8 or 9: the verdict comes first)
  reportNotWritten: 10,
  interrupted: 130, // SIGINT before any result could be produced
} as const

/** Exit codes of `diag runbook run` and the fleet commands, beside the tools': a verdict, not an error. */
export const RUNBOOK_EXIT = {checkFailed: 8, incomplete: 9} as const

export type ErrorKind = Exclude<keyof typeof EXIT, 'ok'>

export abstract class DiagError extends Error {
  abstract readonly kind: ErrorKind
  /** Extra facts for --json output and for people: errno name, capability, holder pid... */
  readonly details: Record<string, unknown>

  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }

  get exitCode(): number {
    return EXIT[this.kind]
  }

  toJSON(): Record<string, unknown> {
    return {error: {kind: this.kind, exitCode: this.exitCode, message: this.message, ...this.details}}
  }
}

export class BadInputError extends DiagError {
  readonly kind = 'badInput'
}

export class NotSupportedError extends DiagError {
  readonly kind = 'notSupported'
}

export class PermissionError extends DiagError {
  readonly kind = 'permission'
}

export class BusyError extends DiagError {
  readonly kind = 'busy'
}

export class BackendError extends DiagError {
  readonly kind = 'backendFailed'
}

/** A report file that could not be written once a runbook had run: the run happened, its report did not. */
export class ReportWriteError extends DiagError {
  readonly kind = 'reportNotWritten'
}

export class InterruptedError extends DiagError {
  readonly kind = 'interrupted'
}

/** The errno name of a Node.js system error or of an addon error, if it has one. */
export function errnoName(error: unknown): string | undefined {
  const code = (error as {code?: unknown})?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined
}

export function isPermissionErrno(code: string | undefined): boolean {
  return code === 'EPERM' || code === 'EACCES'
}
