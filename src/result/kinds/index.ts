import type {TextStyle} from '../../render/style.js'
import type {ResultData} from '../model.js'
import {counts} from './counts.js'
import {histograms} from './histograms.js'
import type {Kind} from './kind.js'
import {profile} from './profile.js'
import {rows} from './rows.js'
import {stacks} from './stacks.js'
import {table} from './table.js'

export type KindName = ResultData['kind']
type KindTable = {[K in KindName]: Kind<Extract<ResultData, {kind: K}>>}

/** Every output kind, by name: what renders, combines and describes a result's data. */
export const KINDS: KindTable = {counts, histograms, profile, rows, table, stacks}

/** The kind of a result's data, typed for it (the one cast that ties the table to the union). */
export function kindOf<D extends ResultData>(data: D): Kind<D> {
  return KINDS[data.kind as KindName] as unknown as Kind<D>
}

/** A result's data as text. */
export function renderKind(data: ResultData, style: TextStyle): string[] {
  return kindOf(data).render(data, style)
}

/** Intervals' data as one (all of one kind, as one tool gives): what the whole run measured. */
export function combineAll(datas: ResultData[]): ResultData | undefined {
  if (datas.length === 0) return undefined
  const kind = kindOf(datas[0])
  return datas.slice(1).reduce((sum, data) => {
    if (data.kind !== sum.kind) throw new Error(`cannot combine ${data.kind} data with ${sum.kind}`)
    return kind.combine(sum, data)
  }, datas[0])
}
