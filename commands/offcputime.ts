import {toolCommand} from '../src/tool-command.js'
import {offcputime} from '../tools/offcputime/tool.js'

export default toolCommand(offcputime)
