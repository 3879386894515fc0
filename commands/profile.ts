import {toolCommand} from '../src/tool-command.js'
import {profile} from '../tools/profile/tool.js'

export default toolCommand(profile)
