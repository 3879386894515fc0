import {toolCommand} from '../src/tool-command.js'
import {offwaketime} from '../tools/offwaketime/tool.js'

export default toolCommand(offwaketime)
