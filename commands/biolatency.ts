import {toolCommand} from '../src/tool-command.js'
import {biolatency} from '../tools/biolatency/tool.js'

export default toolCommand(biolatency)
