import {toolCommand} from '../src/tool-command.js'
import {tcprtt} from '../tools/tcprtt/tool.js'

export default toolCommand(tcprtt)
