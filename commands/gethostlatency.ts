import {toolCommand} from '../src/tool-command.js'
import {gethostlatency} from '../tools/gethostlatency/tool.js'

export default toolCommand(gethostlatency)
