import {toolCommand} from '../src/tool-command.js'
import {funccount} from '../tools/funccount/tool.js'

export default toolCommand(funccount)
