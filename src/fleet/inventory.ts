import {parse as parseYaml} from 'yaml'

import {BadInputError} from '../errors.js'

/**
 * One host of a fleet. `name` is what the operator calls it (the inventory's name, shown in the
 * matrix); `destination` is what ssh is given: an address, or a Host alias of an OpenSSH config,
 * which ssh itself resolves (HostName, Port, User, ProxyJump...).
 */
export interface FleetHost {
  name: string
  destination: string
  user?: string
  port?: number
  groups: string[]
}

export type InventoryFormat = 'list' | 'ssh-config' | 'ansible-ini' | 'ansible-yaml'

export interface Inventory {
  format: InventoryFormat
  hosts: FleetHost[]
}

/** Reads an inventory in any of the formats operators keep, telling them apart by their shape. */
export function parseInventory(text: string, source: string): Inventory {
  const format = inventoryFormat(text)
  const hosts =
    format === 'ssh-config' ? sshConfigHosts(text) : format === 'ansible-yaml' ? ansibleYamlHosts(text, source) : format === 'ansible-ini' ? ansibleIniHosts(text, source) : listHosts(text, source)
  if (hosts.length === 0) throw new BadInputError(`${source} names no hosts (read as ${format})`)
  return {format, hosts}
}

const meaningful = (text: string) => text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith(';'))

export function inventoryFormat(text: string): InventoryFormat {
  const lines = meaningful(text)
  if (lines.some((line) => /^Host\s+\S/i.test(line))) return 'ssh-config'
  if (lines.some((line) => /^\[[^\]]+\]$/.test(line) || /\bansible_\w+=/.test(line))) return 'ansible-ini'
  if (lines.some((line) => /^[\w.-]+:(\s.*)?$/.test(line))) return 'ansible-yaml'
  return 'list'
}

/** `[user@]host[:port]` per line; `[v6 address]:port` for IPv6 with a port. */
function listHosts(text: string, source: string): FleetHost[] {
  return unique(
    meaningful(text).map((line) => {
      const match = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:\s]+)(?::(\d+))?$/.exec(line)
      if (!match) throw new BadInputError(`${source}: not a host ([user@]host[:port]): ${line}`)
      const [, user, host, port] = match
      return {name: line, destination: host.replace(/^\[(.*)\]$/, '$1'), ...(user ? {user} : {}), ...(port ? {port: checkPort(port, source, line)} : {}), groups: []}
    }),
  )
}

/** The names of an OpenSSH config's Host lines, patterns left out: ssh resolves the rest. */
function sshConfigHosts(text: string): FleetHost[] {
  const names = meaningful(text)
    .map((line) => /^Host\s+(.+)$/i.exec(line)?.[1])
    .filter((list): list is string => list !== undefined)
    .flatMap((list) => list.split(/\s+/))
    .filter((name) => !/[*?!]/.test(name))
  return unique(names.map((name) => ({name, destination: name, groups: []})))
}

type Vars = Record<string, unknown>

function hostFromVars(name: string, vars: Vars, groups: string[], source: string): FleetHost {
  const port = vars.ansible_port ?? vars.ansible_ssh_port
  const user = vars.ansible_user ?? vars.ansible_ssh_user
  const address = vars.ansible_host ?? vars.ansible_ssh_host ?? name
  return {
    name,
    destination: String(address),
    ...(user === undefined ? {} : {user: String(user)}),
    ...(port === undefined ? {} : {port: checkPort(String(port), source, name)}),
    groups,
  }
}

interface Group {
  hosts: Map<string, Vars>
  vars: Vars
  children: string[]
}

/** Hosts with the vars of every group they are in (parents first, so a child group's win), then their own. */
function resolveGroups(groups: Map<string, Group>, source: string): FleetHost[] {
  const parentsOf = new Map<string, string[]>()
  for (const [name, group] of groups) for (const child of group.children) parentsOf.set(child, [...(parentsOf.get(child) ?? []), name])
  const ancestry = (group: string, seen = new Set<string>()): string[] => {
    if (seen.has(group)) return []
    seen.add(group)
    return [...(parentsOf.get(group) ?? []).flatMap((parent) => ancestry(parent, seen)), group]
  }
  const hosts = new Map<string, {vars: Vars; groups: string[]}>()
  for (const [groupName, group] of groups) {
    for (const [host, own] of group.hosts) {
      const entry = hosts.get(host) ?? {vars: {}, groups: []}
      entry.groups.push(groupName)
      entry.vars = {...entry.vars, ...own}
      hosts.set(host, entry)
    }
  }
  return [...hosts].map(([name, {vars, groups: memberOf}]) => {
    const inherited: Vars = {...groups.get('all')?.vars}
    for (const group of memberOf) for (const g of ancestry(group)) Object.assign(inherited, groups.get(g)?.vars)
    return hostFromVars(name, {...inherited, ...vars}, memberOf.filter((g) => g !== 'all' && g !== 'ungrouped'), source)
  })
}

function groupOf(groups: Map<string, Group>, name: string): Group {
  let group = groups.get(name)
  if (!group) groups.set(name, (group = {hosts: new Map(), vars: {}, children: []}))
  return group
}

/** Ansible's INI inventory: `[group]`, `[group:vars]`, `[group:children]`, `host key=value ...`. */
function ansibleIniHosts(text: string, source: string): FleetHost[] {
  const groups = new Map<string, Group>()
  let section = {group: 'ungrouped', kind: 'hosts'}
  for (const line of meaningful(text)) {
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line)
    if (header) {
      section = {group: header[1], kind: header[2] ?? 'hosts'}
      groupOf(groups, section.group)
      continue
    }
    const group = groupOf(groups, section.group)
    if (section.kind === 'vars') {
      const [key, ...value] = line.split('=')
      group.vars[key.trim()] = unquote(value.join('=').trim())
    } else if (section.kind === 'children') {
      group.children.push(line)
      groupOf(groups, line)
    } else {
      const [name, ...pairs] = line.split(/\s+/)
      if (/\[.*:.*\]/.test(name)) throw new BadInputError(`${source}: host ranges (${name}) are not supported; list the hosts`)
      const vars: Vars = {}
      for (const pair of pairs) {
        const eq = pair.indexOf('=')
        if (eq > 0) vars[pair.slice(0, eq)] = unquote(pair.slice(eq + 1))
      }
      group.hosts.set(name, {...group.hosts.get(name), ...vars})
    }
  }
  return resolveGroups(groups, source)
}

/** Ansible's YAML inventory: groups with `hosts:` (name: vars), `vars:` and `children:` (more groups). */
function ansibleYamlHosts(text: string, source: string): FleetHost[] {
  let document: unknown
  try {
    document = parseYaml(text)
  } catch (error) {
    throw new BadInputError(`${source}: not a YAML inventory: ${(error as Error).message}`)
  }
  if (!isObject(document)) throw new BadInputError(`${source}: a YAML inventory is a mapping of groups`)
  const groups = new Map<string, Group>()
  const walk = (name: string, body: unknown) => {
    const group = groupOf(groups, name)
    if (body === null || body === undefined) return
    if (!isObject(body)) throw new BadInputError(`${source}: group ${name} is not a mapping`)
    if (isObject(body.hosts)) for (const [host, vars] of Object.entries(body.hosts)) group.hosts.set(String(host), isObject(vars) ? vars : {})
    if (isObject(body.vars)) Object.assign(group.vars, body.vars)
    if (isObject(body.children)) {
      for (const [child, childBody] of Object.entries(body.children)) {
        group.children.push(child)
        walk(child, childBody)
      }
    }
  }
  for (const [name, body] of Object.entries(document)) walk(name, body)
  return resolveGroups(groups, source)
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const unquote = (value: string) => value.replace(/^(["'])(.*)\1$/, '$2')

function checkPort(text: string, source: string, where: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new BadInputError(`${source}: port ${text} of ${where} is not a TCP port`)
  return port
}

function unique(hosts: FleetHost[]): FleetHost[] {
  const seen = new Set<string>()
  return hosts.filter((host) => !seen.has(host.name) && Boolean(seen.add(host.name)))
}
