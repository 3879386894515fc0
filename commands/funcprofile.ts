import {toolCommand} from '../src/tool-command.js'
import {funcprofile} from '../tools/funcprofile/tool.js'

export default toolCommand(funcprofile)
