import {toolCommand} from '../src/tool-command.js'
import {tcptop} from '../tools/tcptop/tool.js'

export default toolCommand(tcptop)
