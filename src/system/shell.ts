/**
 * A word for a POSIX shell: as it is when it holds nothing a shell reads specially, else in single
 * quotes (a quote inside closed, escaped and reopened). For commands sent over SSH and lab scripts.
 */
export const shellQuote = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`)
