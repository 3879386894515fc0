// diag_bpf: a small, flat binding over the system libbpf. It knows nothing about any diag tool:
// the TypeScript side (src/system/bpf-addon.ts) gives it types and decides what to load.
// Every failure throws an Error carrying `errno`, `code` (the errno name) and `libbpfLog`
// (what libbpf printed during the call), so callers can report "fentry refused: EPERM".
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

std::string g_log;  // libbpf's messages since the last call began

int CaptureLibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  vsnprintf(line, sizeof(line), fmt, args);
  g_log += line;
  if (g_log.size() > 8192) g_log.erase(0, g_log.size() - 8192);  // keep the tail: the cause is last
  return 0;
}

const char *ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case 524: return "ENOTSUPP";  // the kernel-internal "operation not supported"
    case ESTALE: return "ESTALE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNRESET: return "ECONNRESET";
    default: return "EUNKNOWN";
  }
}

[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string &what) {
  if (err < 0) err = -err;
  Napi::Error error = Napi::Error::New(env, what + ": " + strerror(err) + " (" + ErrnoName(err) + ")");
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("libbpfLog", Napi::String::New(env, g_log));
  throw error;
}

[[noreturn]] void ThrowUsage(Napi::Env env, const std::string &what) {
  throw Napi::TypeError::New(env, what);
}

std::string StringArg(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info.Length() <= i || !info[i].IsString()) ThrowUsage(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t IntArg(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowUsage(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

Napi::Object ProbeResult(Napi::Env env, int rc) {
  // libbpf_probe_* return 1 (supported), 0 (not supported) or a negative errno (could not tell).
  Napi::Object out = Napi::Object::New(env);
  out.Set("supported", Napi::Boolean::New(env, rc == 1));
  out.Set("errno", Napi::Number::New(env, rc < 0 ? -rc : 0));
  out.Set("code", Napi::String::New(env, rc < 0 ? ErrnoName(-rc) : ""));
  out.Set("log", Napi::String::New(env, g_log));
  return out;
}

// probeHelper(progType, helperId): whether programs of that type may call that helper. libbpf
// loads a two-instruction program calling it and reads the verifier's answer.
Napi::Value ProbeHelper(const Napi::CallbackInfo &info) {
  g_log.clear();
  int rc = libbpf_probe_bpf_helper(static_cast<enum bpf_prog_type>(IntArg(info, 0, "progType")),
                                   static_cast<enum bpf_func_id>(IntArg(info, 1, "helperId")), nullptr);
  return ProbeResult(info.Env(), rc);
}

Napi::Value ProbeMapType(const Napi::CallbackInfo &info) {
  g_log.clear();
  int rc = libbpf_probe_bpf_map_type(static_cast<enum bpf_map_type>(IntArg(info, 0, "type")), nullptr);
  return ProbeResult(info.Env(), rc);
}

int OpenPerfEvent(uint32_t type, uint64_t config, int pid, int cpu, uint64_t sample_freq) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config = config;
  attr.disabled = 0;
  if (sample_freq > 0) {
    attr.freq = 1;
    attr.sample_freq = sample_freq;
  }
  int fd = syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

// perfEventOpen(type, config, pid, cpu): opens and closes at once; returns 0 or throws errno.
Napi::Value PerfEventOpenProbe(const Napi::CallbackInfo &info) {
  g_log.clear();
  int fd = OpenPerfEvent(IntArg(info, 0, "type"), IntArg(info, 1, "config"), IntArg(info, 2, "pid"),
                         IntArg(info, 3, "cpu"), 0);
  if (fd < 0) ThrowErrno(info.Env(), fd, "perf_event_open");
  close(fd);
  return info.Env().Undefined();
}

// mount(fstype, target) and unmount(target): tracefs mounted for one run (src/system/mount.ts)
// without starting mount(8) and umount(8), two processes in every run on a host that does not
// mount tracefs. Nothing BPF about it; this addon is simply diag's one piece of native code.
Napi::Value Mount(const Napi::CallbackInfo &info) {
  std::string fstype = StringArg(info, 0, "fstype");
  std::string target = StringArg(info, 1, "target");
  if (mount("nodev", target.c_str(), fstype.c_str(), 0, nullptr) != 0)
    ThrowErrno(info.Env(), errno, "mount -t " + fstype + " nodev " + target);
  return info.Env().Undefined();
}

Napi::Value Unmount(const Napi::CallbackInfo &info) {
  std::string target = StringArg(info, 0, "target");
  if (umount2(target.c_str(), 0) != 0) ThrowErrno(info.Env(), errno, "umount " + target);
  return info.Env().Undefined();
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), std::to_string(libbpf_major_version()) + "." +
                                           std::to_string(libbpf_minor_version()));
}

// mapCreate(type, keySize, valueSize, maxEntries): creates and closes a map; throws errno. This
// is how the bpf() syscall itself is probed: ENOSYS means no BPF at all, EPERM means refused.
Napi::Value MapCreateProbe(const Napi::CallbackInfo &info) {
  g_log.clear();
  int fd = bpf_map_create(static_cast<enum bpf_map_type>(IntArg(info, 0, "type")), nullptr, IntArg(info, 1, "keySize"),
                          IntArg(info, 2, "valueSize"), IntArg(info, 3, "maxEntries"), nullptr);
  if (fd < 0) ThrowErrno(info.Env(), errno, "bpf(BPF_MAP_CREATE)");
  close(fd);
  return info.Env().Undefined();
}


// --- A loopback TCP connection of diag's own, for calibrating tcp_sock offsets (src/net/tcp-offsets.ts).

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { if (fd >= 0) close(fd); }
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Sends `count` bytes from `from` and reads them all at `to`, in 4 KiB writes each followed by
// draining `to` (nonblocking), so neither side waits on the other. -errno on failure or timeout.
int Transfer(int from, int to, size_t count, int64_t deadline) {
  static char buf[4096];
  memset(buf, 0x5a, sizeof(buf));
  size_t sent = 0, received = 0;
  while (received < count) {
    if (NowMs() > deadline) return -ETIMEDOUT;
    if (sent < count) {
      ssize_t n = send(from, buf, std::min(sizeof(buf), count - sent), MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN) return -errno;
      if (n > 0) sent += n;
    }
    struct pollfd p = {to, POLLIN, 0};
    if (poll(&p, 1, 10) < 0 && errno != EINTR) return -errno;
    for (;;) {
      ssize_t n = recv(to, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) { received += n; continue; }
      if (n == 0) return -ECONNRESET;
      if (errno == EAGAIN) break;
      return -errno;
    }
  }
  return 0;
}

// The head of the kernel's struct tcp_info (include/uapi/linux/tcp.h, only ever appended to), up
// to the byte counts of 4.1, which glibc's own struct tcp_info stops short of.
struct tcp_info_head {
  uint8_t flags[8];
  uint32_t tcpi_rto, tcpi_ato, tcpi_snd_mss, tcpi_rcv_mss;
  uint32_t tcpi_unacked, tcpi_sacked, tcpi_lost, tcpi_retrans, tcpi_fackets;
  uint32_t tcpi_last_data_sent, tcpi_last_ack_sent, tcpi_last_data_recv, tcpi_last_ack_recv;
  uint32_t tcpi_pmtu, tcpi_rcv_ssthresh, tcpi_rtt, tcpi_rttvar, tcpi_snd_ssthresh, tcpi_snd_cwnd, tcpi_advmss, tcpi_reordering;
  uint32_t tcpi_rcv_rtt, tcpi_rcv_space, tcpi_total_retrans;
  uint64_t tcpi_pacing_rate, tcpi_max_pacing_rate, tcpi_bytes_acked, tcpi_bytes_received;
};
static_assert(offsetof(tcp_info_head, tcpi_rtt) == 68 && offsetof(tcp_info_head, tcpi_bytes_received) == 128, "struct tcp_info's uapi layout");

int GetTcpInfo(int fd, struct tcp_info_head *ti, socklen_t *len) {
  memset(ti, 0, sizeof(*ti));
  *len = sizeof(*ti);
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, len) < 0 ? -errno : 0;
}

// tcpLoopbackInfo(clientBytes, serverBytes): opens a TCP connection on 127.0.0.1, sends
// clientBytes from the client and serverBytes back, waits until every byte is acknowledged both
// ways, then reads the client socket's TCP_INFO with one last getsockopt (the call a kprobe on
// tcp_get_info sees) and returns {rtt, rttvar, bytesAcked, bytesReceived, length}. Blocks for
// as long as that takes (milliseconds; 5 s at most). Throws errno.
Napi::Value TcpLoopbackInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t client_arg = IntArg(info, 0, "clientBytes"), server_arg = IntArg(info, 1, "serverBytes");
  const int64_t most = 64 << 20;  // a calibration moves a few hundred KiB
  if (client_arg < 1 || client_arg > most || server_arg < 1 || server_arg > most) ThrowUsage(env, "clientBytes and serverBytes must be from 1 to 64 MiB");
  size_t client_bytes = client_arg, server_bytes = server_arg;
  int64_t deadline = NowMs() + 5000;
  Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.fd < 0) ThrowErrno(env, errno, "socket");
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t addr_len = sizeof(addr);
  if (bind(listener.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) ThrowErrno(env, errno, "bind 127.0.0.1");
  if (listen(listener.fd, 1) < 0) ThrowErrno(env, errno, "listen");
  if (getsockname(listener.fd, (struct sockaddr *)&addr, &addr_len) < 0) ThrowErrno(env, errno, "getsockname");
  Fd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.fd < 0) ThrowErrno(env, errno, "socket");
  if (connect(client.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) ThrowErrno(env, errno, "connect 127.0.0.1");
  Fd server(accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (server.fd < 0) ThrowErrno(env, errno, "accept");
  int rc = Transfer(client.fd, server.fd, client_bytes, deadline);
  if (rc == 0) rc = Transfer(server.fd, client.fd, server_bytes, deadline);
  if (rc < 0) ThrowErrno(env, rc, "loopback transfer");
  struct tcp_info_head ti;
  socklen_t len;
  // Quiet: nothing in flight either way, so the client socket no longer changes.
  for (;;) {
    struct tcp_info_head peer;
    socklen_t peer_len;
    if ((rc = GetTcpInfo(server.fd, &peer, &peer_len)) < 0) ThrowErrno(env, rc, "getsockopt(TCP_INFO)");
    if ((rc = GetTcpInfo(client.fd, &ti, &len)) < 0) ThrowErrno(env, rc, "getsockopt(TCP_INFO)");
    if (ti.tcpi_unacked == 0 && peer.tcpi_unacked == 0) break;
    if (NowMs() > deadline) ThrowErrno(env, ETIMEDOUT, "waiting for the loopback connection's acknowledgements");
    usleep(1000);
  }
  usleep(20000);
  if ((rc = GetTcpInfo(client.fd, &ti, &len)) < 0) ThrowErrno(env, rc, "getsockopt(TCP_INFO)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("length", Napi::Number::New(env, len));
  out.Set("rtt", Napi::Number::New(env, ti.tcpi_rtt));
  out.Set("rttvar", Napi::Number::New(env, ti.tcpi_rttvar));
  // Filled by kernels from 4.1 on; an older kernel returns a shorter struct.
  bool has_bytes = len >= offsetof(struct tcp_info_head, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received);
  out.Set("bytesAcked", has_bytes ? Napi::Value(Napi::Number::New(env, ti.tcpi_bytes_acked)) : env.Null());
  out.Set("bytesReceived", has_bytes ? Napi::Value(Napi::Number::New(env, ti.tcpi_bytes_received)) : env.Null());
  return out;
}

// btfMemberOffset(structName, member): the byte offset of a member of a kernel struct in the
// running kernel's BTF (/sys/kernel/btf/vmlinux), looking into anonymous structs and unions;
// null where there is no BTF or no such member.
int MemberOffset(const struct btf *btf, int type_id, const std::string &member, int base_bits) {
  const struct btf_type *t = btf__type_by_id(btf, type_id);
  if (!t || (!btf_is_struct(t) && !btf_is_union(t))) return -1;
  const struct btf_member *m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    int bits = base_bits + btf_member_bit_offset(t, i);
    const char *name = btf__name_by_offset(btf, m->name_off);
    if (name && member == name) return bits;
    if (!name || !*name) {
      int inner = MemberOffset(btf, btf__resolve_type(btf, m->type), member, bits);
      if (inner >= 0) return inner;
    }
  }
  return -1;
}

Napi::Value BtfMemberOffset(const Napi::CallbackInfo &info) {
  std::string type = StringArg(info, 0, "structName"), member = StringArg(info, 1, "member");
  g_log.clear();
  struct btf *btf = btf__load_vmlinux_btf();
  if (!btf) return info.Env().Null();
  int id = btf__find_by_name_kind(btf, type.c_str(), BTF_KIND_STRUCT);
  int bits = id < 0 ? -1 : MemberOffset(btf, id, member, 0);
  btf__free(btf);
  return bits < 0 || bits % 8 ? info.Env().Null() : Napi::Number::New(info.Env(), bits / 8);
}


// A ring buffer (BPF_MAP_TYPE_RINGBUF, 5.8+) or perf buffer (BPF_MAP_TYPE_PERF_EVENT_ARRAY) that
// hands its records to JS in batches: one call of onBatch(data, offsets) per batch, record i being
// data[offsets[i], offsets[i + 1]). Its epoll fd is watched from libuv on Node's own loop, and the
// records are consumed there, on the main thread: no consumer thread, so no libbpf call can race
// another over libbpf's global print callback (g_log).
struct EventBuffer {
  // A ring buffer consumed while the BPF side keeps writing could fill one batch without end:
  // past this many records the batch is handed over, and libuv calls again for the rest.
  static constexpr size_t kMaxBatch = 16384;

  Napi::Env env;
  Napi::FunctionReference on_batch;
  struct ring_buffer *ring = nullptr;
  struct perf_buffer *perf = nullptr;
  uv_poll_t *poll = nullptr;
  // The buffer's own copy of the map fd: a perf buffer writes to the map until freed, which may be
  // after the object closed its fd (destroy() called from onBatch), when the number may be reused.
  int map_fd = -1;
  uint64_t lost = 0;  // perf buffer: samples the kernel reported lost (PERF_RECORD_LOST)
  std::vector<uint8_t> data;
  std::vector<uint32_t> offsets;
  int dispatching = 0;  // > 0 while records go to JS, which may close this buffer meanwhile
  bool closed = false;

  explicit EventBuffer(Napi::Env e) : env(e) {}

  ~EventBuffer() {
    if (poll) {
      uv_poll_stop(poll);
      poll->data = nullptr;
      // libuv frees a handle's memory only after its close callback.
      uv_close(reinterpret_cast<uv_handle_t *>(poll), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
    }
    if (ring) ring_buffer__free(ring);
    if (perf) perf_buffer__free(perf);  // closes the perf events it opened, one per CPU
    if (map_fd >= 0) close(map_fd);
  }

  bool Full() const { return offsets.size() >= kMaxBatch; }

  void Add(const void *record, size_t size) {
    offsets.push_back(data.size());
    const uint8_t *bytes = static_cast<const uint8_t *>(record);
    data.insert(data.end(), bytes, bytes + size);
  }

  static int OnRingRecord(void *ctx, void *record, size_t size) {
    EventBuffer *self = static_cast<EventBuffer *>(ctx);
    self->Add(record, size);
    return self->Full() ? -EAGAIN : 0;  // stops after this record, which counts as consumed
  }

  static void OnPerfRecord(void *ctx, int, void *record, __u32 size) { static_cast<EventBuffer *>(ctx)->Add(record, size); }

  static void OnPerfLost(void *ctx, int, __u64 count) { static_cast<EventBuffer *>(ctx)->lost += count; }

  // Reads what the kernel has written (up to a batch) into data/offsets. Returns a negative errno
  // on failure.
  int Fill() {
    if (ring) {
      int rc = ring_buffer__consume(ring);
      return rc == -EAGAIN && Full() ? 0 : (rc < 0 ? rc : 0);
    }
    int rc = perf_buffer__consume(perf);
    return rc < 0 ? rc : 0;
  }

  // Hands the batch to JS and returns how many records it held. JS may close this buffer from its
  // callback: the caller must not touch it afterwards unless it holds a dispatch (dispatching).
  size_t Deliver() {
    size_t n = offsets.size();
    if (n == 0) return 0;
    Napi::HandleScope scope(env);
    Napi::Buffer<uint8_t> bytes = Napi::Buffer<uint8_t>::Copy(env, data.data(), data.size());
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, (n + 1) * sizeof(uint32_t));
    Napi::Uint32Array bounds = Napi::Uint32Array::New(env, n + 1, ab, 0);
    for (size_t i = 0; i < n; i++) bounds[i] = offsets[i];
    bounds[n] = data.size();
    data.clear();
    offsets.clear();
    on_batch.MakeCallback(env.Global(), {bytes, bounds});
    return n;
  }

  static void OnReadable(uv_poll_t *handle, int status, int) {
    EventBuffer *self = static_cast<EventBuffer *>(handle->data);
    if (!self || self->closed) return;
    self->dispatching++;
    try {
      if (status == 0 && self->Fill() == 0) self->Deliver();
    } catch (const Napi::Error &error) {
      // An exception thrown by the JS callback: Node reports it as uncaught, as for any event.
      napi_fatal_exception(self->env, error.Value());
    }
    self->Done();
  }

  // Ends a dispatch; the last one out frees a buffer JS closed during it.
  void Done() {
    if (--dispatching == 0 && closed) delete this;
  }
};

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfObject",
                       {
                           InstanceMethod("programs", &BpfObject::Programs),
                           InstanceMethod("setAutoload", &BpfObject::SetAutoload),
                           InstanceMethod("setAttachTarget", &BpfObject::SetAttachTarget),
                           InstanceMethod("setConst", &BpfObject::SetConst),
                           InstanceMethod("setMaxEntries", &BpfObject::SetMaxEntries),
                           InstanceMethod("load", &BpfObject::Load),
                           InstanceMethod("attach", &BpfObject::Attach),
                           InstanceMethod("detach", &BpfObject::Detach),
                           InstanceMethod("mapEntries", &BpfObject::MapEntries),
                           InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
                           InstanceMethod("openEventBuffer", &BpfObject::OpenEventBuffer),
                           InstanceMethod("consumeEventBuffer", &BpfObject::ConsumeEventBuffer),
                           InstanceMethod("eventBufferLost", &BpfObject::EventBufferLost),
                           InstanceMethod("closeEventBuffer", &BpfObject::CloseEventBuffer),
                           InstanceMethod("mapLookup", &BpfObject::MapLookup),
                           InstanceMethod("testRun", &BpfObject::TestRun),
                           InstanceMethod("destroy", &BpfObject::Destroy),
                       });
  }

  // new BpfObject(pathOrBuffer)
  explicit BpfObject(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfObject>(info) {
    g_log.clear();
    Napi::Env env = info.Env();
    if (info.Length() > 0 && info[0].IsBuffer()) {
      Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
      obj_ = bpf_object__open_mem(buf.Data(), buf.Length(), nullptr);
    } else {
      std::string path = StringArg(info, 0, "path");
      obj_ = bpf_object__open_file(path.c_str(), nullptr);
    }
    if (!obj_) ThrowErrno(env, errno, "opening BPF object");
  }

  ~BpfObject() override { Close(); }

 private:
  struct bpf_object *obj_ = nullptr;
  // Each link owns what it attached through: a perf link closes its perf event fd when destroyed,
  // so nothing here closes that fd again (the number may by then belong to another file).
  std::map<int, struct bpf_link *> links_;
  int next_link_ = 1;
  // Event buffers read this object's maps, so they go before it (Close).
  std::map<int, EventBuffer *> buffers_;
  int next_buffer_ = 1;

  void Close() {
    for (auto &entry : buffers_) Release(entry.second);
    buffers_.clear();
    for (auto &entry : links_) bpf_link__destroy(entry.second);
    links_.clear();
    if (obj_) bpf_object__close(obj_);
    obj_ = nullptr;
  }

  struct bpf_object *Obj(Napi::Env env) {
    if (!obj_) ThrowUsage(env, "BPF object already destroyed");
    return obj_;
  }

  struct bpf_program *Prog(const Napi::CallbackInfo &info, size_t i) {
    std::string name = StringArg(info, i, "program");
    struct bpf_program *prog = bpf_object__find_program_by_name(Obj(info.Env()), name.c_str());
    if (!prog) ThrowErrno(info.Env(), ENOENT, "no program named " + name);
    return prog;
  }

  struct bpf_map *Map(const Napi::CallbackInfo &info, size_t i) {
    std::string name = StringArg(info, i, "map");
    struct bpf_map *map = bpf_object__find_map_by_name(Obj(info.Env()), name.c_str());
    if (!map) ThrowErrno(info.Env(), ENOENT, "no map named " + name);
    return map;
  }

  Napi::Value Programs(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    struct bpf_program *prog;
    uint32_t i = 0;
    bpf_object__for_each_program(prog, Obj(env)) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("name", bpf_program__name(prog));
      p.Set("section", bpf_program__section_name(prog));
      p.Set("autoload", bpf_program__autoload(prog));
      out.Set(i++, p);
    }
    return out;
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo &info) {
    g_log.clear();
    int rc = bpf_program__set_autoload(Prog(info, 0), info[1].ToBoolean());
    if (rc) ThrowErrno(info.Env(), rc, "set autoload");
    return info.Env().Undefined();
  }

  Napi::Value SetAttachTarget(const Napi::CallbackInfo &info) {
    g_log.clear();
    std::string func = StringArg(info, 1, "function");
    int rc = bpf_program__set_attach_target(Prog(info, 0), 0, func.c_str());
    if (rc) ThrowErrno(info.Env(), rc, "set attach target " + func);
    return info.Env().Undefined();
  }

  // setConst(name, buffer): writes a `const volatile` global in .rodata before load.
  Napi::Value SetConst(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string name = StringArg(info, 0, "name");
    if (info.Length() < 2 || !info[1].IsBuffer()) ThrowUsage(env, "value must be a Buffer");
    Napi::Buffer<uint8_t> value = info[1].As<Napi::Buffer<uint8_t>>();
    struct btf *btf = bpf_object__btf(Obj(env));
    if (!btf) ThrowErrno(env, ENOENT, "object has no BTF to find " + name);
    int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
    if (sec_id < 0) ThrowErrno(env, ENOENT, "object has no .rodata for " + name);
    const struct btf_type *sec = btf__type_by_id(btf, sec_id);
    const struct btf_var_secinfo *vars = btf_var_secinfos(sec);
    for (int i = 0; i < btf_vlen(sec); i++) {
      const struct btf_type *var = btf__type_by_id(btf, vars[i].type);
      if (name != btf__name_by_offset(btf, var->name_off)) continue;
      if (vars[i].size != value.Length())
        ThrowUsage(env, name + " is " + std::to_string(vars[i].size) + " bytes, got " +
                            std::to_string(value.Length()));
      struct bpf_map *rodata = nullptr, *map;
      bpf_object__for_each_map(map, obj_) {
        const char *map_name = bpf_map__name(map);
        size_t len = strlen(map_name);
        if (len >= 7 && strcmp(map_name + len - 7, ".rodata") == 0) rodata = map;
      }
      size_t size = 0;
      void *data = rodata ? const_cast<void *>(bpf_map__initial_value(rodata, &size)) : nullptr;
      if (!data || vars[i].offset + value.Length() > size) ThrowErrno(env, ENOENT, "no .rodata map for " + name);
      memcpy(static_cast<uint8_t *>(data) + vars[i].offset, value.Data(), value.Length());
      return env.Undefined();
    }
    ThrowErrno(env, ENOENT, "no constant named " + name);
  }

  Napi::Value SetMaxEntries(const Napi::CallbackInfo &info) {
    int rc = bpf_map__set_max_entries(Map(info, 0), IntArg(info, 1, "maxEntries"));
    if (rc) ThrowErrno(info.Env(), rc, "set max entries");
    return info.Env().Undefined();
  }

  Napi::Value Load(const Napi::CallbackInfo &info) {
    g_log.clear();
    int rc = bpf_object__load(Obj(info.Env()));
    if (rc) ThrowErrno(info.Env(), rc, "loading BPF object");
    return info.Env().Undefined();
  }

  int Keep(struct bpf_link *link) {
    int id = next_link_++;
    links_[id] = link;
    return id;
  }

  // attach(program, spec) -> link id. spec.kind picks the libbpf attach call; "auto" uses the
  // program's SEC() name. Every attachment is a bpf_link owned by this process.
  Napi::Value Attach(const Napi::CallbackInfo &info) {
    g_log.clear();
    Napi::Env env = info.Env();
    struct bpf_program *prog = Prog(info, 0);
    if (info.Length() < 2 || !info[1].IsObject()) ThrowUsage(env, "attach spec must be an object");
    Napi::Object spec = info[1].As<Napi::Object>();
    std::string kind = spec.Get("kind").ToString().Utf8Value();
    auto str = [&](const char *key) {
      Napi::Value v = spec.Get(key);
      if (!v.IsString()) ThrowUsage(env, std::string("attach spec needs string ") + key);
      return v.As<Napi::String>().Utf8Value();
    };
    auto num = [&](const char *key, int64_t fallback) {
      Napi::Value v = spec.Get(key);
      return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
    };
    struct bpf_link *link = nullptr;
    if (kind == "auto") {
      link = bpf_program__attach(prog);
    } else if (kind == "tracepoint") {
      link = bpf_program__attach_tracepoint(prog, str("category").c_str(), str("name").c_str());
    } else if (kind == "raw_tracepoint") {
      link = bpf_program__attach_raw_tracepoint(prog, str("name").c_str());
    } else if (kind == "kprobe" || kind == "kretprobe") {
      link = bpf_program__attach_kprobe(prog, kind == "kretprobe", str("function").c_str());
    } else if (kind == "kprobe_multi") {
      // Either a glob pattern (libbpf matches it against /proc/kallsyms) or exact symbols,
      // which skips that scan.
      LIBBPF_OPTS(bpf_kprobe_multi_opts, opts, .retprobe = spec.Get("retprobe").ToBoolean());
      std::vector<std::string> names;
      std::vector<const char *> syms;
      std::string pattern;
      if (spec.Get("symbols").IsArray()) {
        Napi::Array list = spec.Get("symbols").As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) names.push_back(list.Get(i).ToString().Utf8Value());
        for (const std::string &name : names) syms.push_back(name.c_str());
        opts.syms = syms.data();
        opts.cnt = syms.size();
      } else {
        pattern = str("pattern");
      }
      // Optional cookies, one per symbol, that the program reads back with bpf_get_attach_cookie.
      std::vector<__u64> cookies;
      if (spec.Get("cookies").IsArray()) {
        Napi::Array list = spec.Get("cookies").As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) cookies.push_back(list.Get(i).ToNumber().Int64Value());
        if (cookies.size() != syms.size()) ThrowUsage(env, "kprobe_multi needs one cookie per symbol");
        opts.cookies = cookies.data();
      }
      link = bpf_program__attach_kprobe_multi_opts(prog, pattern.empty() ? nullptr : pattern.c_str(), &opts);
    } else if (kind == "trace") {  // fentry/fexit/tp_btf: target set before load
      link = bpf_program__attach_trace(prog);
    } else if (kind == "uprobe" || kind == "uretprobe") {
      // By symbol (libbpf reads the ELF), or at a file offset diag resolved itself.
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = kind == "uretprobe");
      std::string func = spec.Get("function").IsString() ? str("function") : "";
      opts.func_name = func.empty() ? nullptr : func.c_str();
      link = bpf_program__attach_uprobe_opts(prog, num("pid", -1), str("binary").c_str(), num("offset", 0), &opts);
    } else if (kind == "perf_event") {
      int fd = OpenPerfEvent(num("type", 1), num("config", 0), num("pid", -1), num("cpu", 0), num("frequency", 0));
      if (fd < 0) ThrowErrno(env, fd, "perf_event_open");
      link = bpf_program__attach_perf_event(prog, fd);  // on success the link owns fd
      if (!link) {
        int err = errno;
        close(fd);
        ThrowErrno(env, err, "attaching to perf event");
      }
    } else {
      ThrowUsage(env, "unknown attach kind " + kind);
    }
    if (!link) ThrowErrno(env, errno, "attaching " + std::string(bpf_program__name(prog)) + " (" + kind + ")");
    return Napi::Number::New(env, Keep(link));
  }

  Napi::Value Detach(const Napi::CallbackInfo &info) {
    int id = IntArg(info, 0, "link");
    auto it = links_.find(id);
    if (it != links_.end()) {
      bpf_link__destroy(it->second);
      links_.erase(it);
    }
    return info.Env().Undefined();
  }

  static size_t ValueSize(struct bpf_map *map) {
    // Per-CPU maps hand back one 8-byte-aligned slot for each possible CPU.
    enum bpf_map_type t = bpf_map__type(map);
    size_t size = bpf_map__value_size(map);
    if (t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_LRU_PERCPU_HASH)
      return ((size + 7) / 8) * 8 * libbpf_num_possible_cpus();
    return size;
  }

  Napi::Buffer<uint8_t> KeyArg(const Napi::CallbackInfo &info, size_t i, struct bpf_map *map) {
    if (info.Length() <= i || !info[i].IsBuffer()) ThrowUsage(info.Env(), "key must be a Buffer");
    Napi::Buffer<uint8_t> key = info[i].As<Napi::Buffer<uint8_t>>();
    if (key.Length() != bpf_map__key_size(map)) ThrowUsage(info.Env(), "key has the wrong size");
    return key;
  }

  // mapEntries(name) -> [[key, value], ...]; per-CPU values come as one slot per possible CPU.
  Napi::Value MapEntries(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    struct bpf_map *map = Map(info, 0);
    int fd = bpf_map__fd(map);
    size_t key_size = bpf_map__key_size(map), value_size = ValueSize(map);
    std::vector<uint8_t> key(key_size), next(key_size), value(value_size);
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    void *prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0) {
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, Napi::Buffer<uint8_t>::Copy(env, next.data(), key_size));
        pair.Set(1u, Napi::Buffer<uint8_t>::Copy(env, value.data(), value_size));
        out.Set(n++, pair);
      }
      key.swap(next);
      prev = key.data();
    }
    return out;
  }

  Napi::Value MapUpdate(const Napi::CallbackInfo &info) {
    struct bpf_map *map = Map(info, 0);
    Napi::Buffer<uint8_t> key = KeyArg(info, 1, map);
    if (info.Length() < 3 || !info[2].IsBuffer()) ThrowUsage(info.Env(), "value must be a Buffer");
    Napi::Buffer<uint8_t> value = info[2].As<Napi::Buffer<uint8_t>>();
    if (value.Length() != ValueSize(map)) ThrowUsage(info.Env(), "value has the wrong size");
    if (bpf_map_update_elem(bpf_map__fd(map), key.Data(), value.Data(), BPF_ANY)) ThrowErrno(info.Env(), errno, "map update");
    return info.Env().Undefined();
  }

  static void Release(EventBuffer *buffer) {
    buffer->closed = true;
    if (buffer->dispatching == 0) delete buffer;  // else the dispatch in progress frees it (Done)
  }

  EventBuffer *FindBuffer(const Napi::CallbackInfo &info) {
    auto it = buffers_.find(IntArg(info, 0, "buffer"));
    if (it == buffers_.end()) ThrowUsage(info.Env(), "no open event buffer with that id");
    return it->second;
  }

  // openEventBuffer(map, kind, pageCount, onBatch) -> buffer id. kind "ring" reads a
  // BPF_MAP_TYPE_RINGBUF map, "perf" a BPF_MAP_TYPE_PERF_EVENT_ARRAY (pageCount pages per CPU, a
  // power of two). onBatch(data, offsets) is called from Node's loop whenever records arrive.
  Napi::Value OpenEventBuffer(const Napi::CallbackInfo &info) {
    g_log.clear();
    Napi::Env env = info.Env();
    struct bpf_map *map = Map(info, 0);
    std::string kind = StringArg(info, 1, "kind");
    int64_t pages = IntArg(info, 2, "pageCount");
    if (info.Length() < 4 || !info[3].IsFunction()) ThrowUsage(env, "onBatch must be a function");
    if (bpf_map__fd(map) < 0) ThrowUsage(env, "load the object before opening an event buffer on its maps");
    std::unique_ptr<EventBuffer> buffer(new EventBuffer(env));
    buffer->on_batch = Napi::Persistent(info[3].As<Napi::Function>());
    int fd = buffer->map_fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) ThrowErrno(env, errno, "duplicating the map fd");
    int epoll_fd;
    if (kind == "ring") {
      if (bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF) ThrowUsage(env, "map is not a ring buffer");
      buffer->ring = ring_buffer__new(fd, EventBuffer::OnRingRecord, buffer.get(), nullptr);
      if (!buffer->ring) ThrowErrno(env, errno, "opening ring buffer");
      epoll_fd = ring_buffer__epoll_fd(buffer->ring);
    } else if (kind == "perf") {
      if (bpf_map__type(map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY) ThrowUsage(env, "map is not a perf event array");
      buffer->perf = perf_buffer__new(fd, pages, EventBuffer::OnPerfRecord, EventBuffer::OnPerfLost, buffer.get(), nullptr);
      if (!buffer->perf) ThrowErrno(env, errno, "opening perf buffer");
      epoll_fd = perf_buffer__epoll_fd(buffer->perf);
    } else {
      ThrowUsage(env, "kind must be ring or perf");
    }
    uv_loop_t *loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) ThrowUsage(env, "no libuv loop");
    uv_poll_t *poll = new uv_poll_t;
    int rc = uv_poll_init(loop, poll, epoll_fd);
    if (rc) {
      delete poll;
      ThrowErrno(env, -rc, "watching the event buffer");
    }
    poll->data = buffer.get();
    buffer->poll = poll;  // from here the buffer closes the handle
    rc = uv_poll_start(poll, UV_READABLE, EventBuffer::OnReadable);
    if (rc) ThrowErrno(env, -rc, "watching the event buffer");
    // The buffer alone does not keep Node running: the session's own wait (a timer, the traced
    // command) does, and a buffer left open by mistake cannot hang the process.
    uv_unref(reinterpret_cast<uv_handle_t *>(poll));
    int id = next_buffer_++;
    buffers_[id] = buffer.release();
    return Napi::Number::New(env, id);
  }

  // consumeEventBuffer(id) -> records delivered: hands over everything written so far, in batches,
  // without waiting for libuv (at stop, after the programs are detached).
  Napi::Value ConsumeEventBuffer(const Napi::CallbackInfo &info) {
    g_log.clear();
    Napi::Env env = info.Env();
    EventBuffer *buffer = FindBuffer(info);
    size_t total = 0;
    int rc = 0;
    buffer->dispatching++;
    try {
      while (!buffer->closed) {
        rc = buffer->Fill();
        if (rc < 0) break;
        size_t n = buffer->Deliver();
        total += n;
        if (n == 0) break;
      }
    } catch (...) {
      buffer->Done();  // an exception from the JS callback goes on to the caller
      throw;
    }
    if (rc < 0) {
      buffer->data.clear();
      buffer->offsets.clear();
    }
    buffer->Done();  // may free a buffer the callback closed
    if (rc < 0) ThrowErrno(env, rc, "reading the event buffer");
    return Napi::Number::New(env, static_cast<double>(total));
  }

  // eventBufferLost(id): samples a perf buffer's kernel side reported lost (a ring buffer's losses
  // are counted by the BPF program, bpf/diag.h count_lost).
  Napi::Value EventBufferLost(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), static_cast<double>(FindBuffer(info)->lost));
  }

  Napi::Value CloseEventBuffer(const Napi::CallbackInfo &info) {
    auto it = buffers_.find(IntArg(info, 0, "buffer"));
    if (it != buffers_.end()) {
      Release(it->second);
      buffers_.erase(it);
    }
    return info.Env().Undefined();
  }

  // mapLookup(name, key) -> value, or null when the key is absent: for maps that cannot be
  // walked with get_next_key (stack trace maps before 4.15).
  Napi::Value MapLookup(const Napi::CallbackInfo &info) {
    struct bpf_map *map = Map(info, 0);
    Napi::Buffer<uint8_t> key = KeyArg(info, 1, map);
    std::vector<uint8_t> value(ValueSize(map));
    if (bpf_map_lookup_elem(bpf_map__fd(map), key.Data(), value.data()) == 0)
      return Napi::Buffer<uint8_t>::Copy(info.Env(), value.data(), value.size());
    if (errno == ENOENT) return info.Env().Null();
    ThrowErrno(info.Env(), errno, "map lookup");
    return info.Env().Null();
  }

  // testRun(program, ctx): runs a loaded program once, attached to nothing, on ctx (for a raw
  // tracepoint program, its arguments, 8 bytes each) through BPF_PROG_TEST_RUN, in the calling
  // thread; returns the program's return value. For tests of a program's logic (5.10+ for raw_tp).
  Napi::Value TestRun(const Napi::CallbackInfo &info) {
    g_log.clear();
    struct bpf_program *prog = Prog(info, 0);
    if (info.Length() < 2 || !info[1].IsBuffer()) ThrowUsage(info.Env(), "ctx must be a Buffer");
    Napi::Buffer<uint8_t> ctx = info[1].As<Napi::Buffer<uint8_t>>();
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx.Data(), .ctx_size_in = (__u32)ctx.Length());
    if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0) ThrowErrno(info.Env(), errno, "BPF_PROG_TEST_RUN");
    return Napi::Number::New(info.Env(), opts.retval);
  }

  Napi::Value Destroy(const Napi::CallbackInfo &info) {
    Close();
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(CaptureLibbpfPrint);
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("probeHelper", Napi::Function::New(env, ProbeHelper));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("perfEventOpen", Napi::Function::New(env, PerfEventOpenProbe));
  exports.Set("mapCreate", Napi::Function::New(env, MapCreateProbe));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("unmount", Napi::Function::New(env, Unmount));
  exports.Set("tcpLoopbackInfo", Napi::Function::New(env, TcpLoopbackInfo));
  exports.Set("btfMemberOffset", Napi::Function::New(env, BtfMemberOffset));
  exports.Set("BpfObject", BpfObject::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(diag_bpf, Init)
