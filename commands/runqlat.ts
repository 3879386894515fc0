import {toolCommand} from '../src/tool-command.js'
import {runqlat} from '../tools/runqlat/tool.js'

export default toolCommand(runqlat)
