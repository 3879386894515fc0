import {toolCommand} from '../src/tool-command.js'
import {funclatency} from '../tools/funclatency/tool.js'

export default toolCommand(funclatency)
