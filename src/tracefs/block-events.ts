import type {HostFiles} from '../system/files.js'

/**
 * The block event a request's latency is measured from. By default its issue to the device. With
 * --queued, its creation: block_io_start (6.5+) fires for every request as it is made, where
 * block_rq_insert, the only choice before, misses requests that blk-mq issues directly (no I/O
 * scheduler, as on virtio and loop devices), so it is used only where block_io_start is absent.
 * Both name the request by device and sector, which is what completion is joined on.
 */
export async function requestStartEvent(files: HostFiles, tracefs: string, queued: boolean): Promise<string> {
  if (!queued) return 'block/block_rq_issue'
  return (await files.exists(`${tracefs}/events/block/block_io_start/format`)) ? 'block/block_io_start' : 'block/block_rq_insert'
}
