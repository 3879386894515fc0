import {toolCommand} from '../src/tool-command.js'
import {syscount} from '../tools/syscount/tool.js'

export default toolCommand(syscount)
