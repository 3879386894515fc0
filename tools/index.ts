import type {AnyTool} from '../src/plan/tool.js'
import {biolatency} from './biolatency/tool.js'
import {funccount} from './funccount/tool.js'
import {funclatency} from './funclatency/tool.js'
import {funcprofile} from './funcprofile/tool.js'
import {gethostlatency} from './gethostlatency/tool.js'
import {offcputime} from './offcputime/tool.js'
import {offwaketime} from './offwaketime/tool.js'
import {profile} from './profile/tool.js'
import {runqlat} from './runqlat/tool.js'
import {syscount} from './syscount/tool.js'
import {tcpdrop} from './tcpdrop/tool.js'
import {tcplife} from './tcplife/tool.js'
import {tcprtt} from './tcprtt/tool.js'
import {tcptop} from './tcptop/tool.js'

/** Every tool diag has, in the order `diag capabilities` reports them. Adding one: see the README. */
export const TOOLS: AnyTool[] = [syscount, funccount, biolatency, runqlat, funcprofile, funclatency, gethostlatency, offcputime, offwaketime, profile, tcplife, tcptop, tcpdrop, tcprtt]

export function findTool(name: string): AnyTool | undefined {
  return TOOLS.find((tool) => tool.name === name)
}
