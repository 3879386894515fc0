import {toolCommand} from '../src/tool-command.js'
import {tcpdrop} from '../tools/tcpdrop/tool.js'

export default toolCommand(tcpdrop)
