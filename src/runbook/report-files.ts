import {EXIT, ReportWriteError} from '../errors.js'
import {checkOutputFile, writeAtomically} from '../system/output-file.js'

/**
 * The report files of a runbook run, one flag each, shared by `diag runbook run` and `diag fleet run
 * RUNBOOK`: each checked writable before any work, then written whole once the run is over.
 */
export const REPORT_FLAGS = ['report', 'junit', 'openmetrics', 'prometheus'] as const
export type ReportFlag = (typeof REPORT_FLAGS)[number]

/** Where each report goes, as the flags were given (a flag not given: no such report). */
export type ReportFiles = {[flag in ReportFlag]?: string | undefined}

/** How each report is made from what a run gives back (a runbook's report, a fleet's). */
export type ReportFormats<T> = Record<ReportFlag, (value: T) => string>

/** Refuses a report path that could not be written, so it is known before minutes of tracing, not after. */
export async function checkReportFiles(files: ReportFiles): Promise<void> {
  for (const flag of REPORT_FLAGS) {
    const file = files[flag]
    if (file !== undefined) await checkOutputFile(`--${flag}`, file)
  }
}

/** What writing a run's reports came to: the files written, what could not be, and the exit code of the run. */
export interface ReportsWritten {
  written: string[]
  /** Every report that could not be written, in one error naming each flag and file; none when all were. */
  failure: ReportWriteError | undefined
  /**
   * The run's own exit code (its verdict: 8, 9, 130) whenever it is not 0, for a report that
   * could not be written must not hide a failed check; a pass whose report could not be written
   * is not a success either: exit 10.
   */
  exitCode: number
}

/**
 * Writes each report asked for, atomically, in the flags' order. A report that cannot be written
 * (a full disk, its directory gone since the check) does not stop the others, nor hide the run's
 * verdict: the failure is given back, for the command to print beside the run's result.
 */
export async function writeReportFiles<T extends {exitCode: number}>(files: ReportFiles, formats: ReportFormats<T>, run: T): Promise<ReportsWritten> {
  const written: string[] = []
  const failed: string[] = []
  for (const flag of REPORT_FLAGS) {
    const file = files[flag]
    if (file === undefined) continue
    try {
      await writeAtomically(file, formats[flag](run))
      written.push(file)
    } catch (error) {
      failed.push(`--${flag} ${file}: could not write it: ${(error as Error).message}`)
    }
  }
  if (failed.length === 0) return {written, failure: undefined, exitCode: run.exitCode}
  const failure = new ReportWriteError([...failed, ...(written.length ? [`written: ${written.join(', ')}`] : [])].join('; '))
  return {written, failure, exitCode: run.exitCode === EXIT.ok ? failure.exitCode : run.exitCode}
}

/**
 * Says that a report could not be written, beside the run's result (which is already printed):
 * on stderr, as JSON with --json (the error shape every diag error has there), else as text.
 */
export function sayReportFailure(reports: ReportsWritten, json: boolean): void {
  if (!reports.failure) return
  process.stderr.write(json ? `${JSON.stringify(reports.failure.toJSON())}\n` : `diag: ${reports.failure.message}\n`)
}
