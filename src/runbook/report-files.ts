import {BadInputError} from '../errors.js'
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

/**
 * Writes each report asked for, atomically, in the flags' order; gives back the files written. A
 * report that cannot be written (a full disk, its directory gone since the check) does not stop
 * the others: once all were tried, one error names every report that failed.
 */
export async function writeReportFiles<T>(files: ReportFiles, formats: ReportFormats<T>, value: T): Promise<string[]> {
  const written: string[] = []
  const failed: string[] = []
  for (const flag of REPORT_FLAGS) {
    const file = files[flag]
    if (file === undefined) continue
    try {
      await writeAtomically(file, formats[flag](value))
      written.push(file)
    } catch (error) {
      failed.push(`--${flag} ${file}: could not write it: ${(error as Error).message}`)
    }
  }
  if (failed.length > 0) throw new BadInputError([...failed, ...(written.length ? [`written: ${written.join(', ')}`] : [])].join('; '))
  return written
}
