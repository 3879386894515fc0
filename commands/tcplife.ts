import {toolCommand} from '../src/tool-command.js'
import {tcplife} from '../tools/tcplife/tool.js'

export default toolCommand(tcplife)
