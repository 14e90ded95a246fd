// SPDX-License-Identifier: Apache-2.0
// syspgo-delay-relay: a TCP relay that adds a fixed delay to every byte in
// each direction, for benchmarks on a link with a round-trip time where
// netem is not available. Each accepted connection gets a connection to the
// target; per direction one thread reads and queues what it read with a due
// time, another writes it when due.
//
// As a path with that round trip would:
// - A new connection's first bytes leave one RTT after it was accepted (the
//   TCP handshake, which the relay's own kernel answers at once).
// - A direction holds at most a window of bytes in flight, acknowledged one
//   way after they were delivered: it starts at TCP's initial window (10
//   segments) and grows by what is acknowledged (slow start) up to
//   --window-kb (default 4096, Linux's usual receive-window ceiling), so a
//   transfer ramps up over round trips instead of arriving at once.
//
//   syspgo-delay-relay --listen ADDR:PORT --target ADDR:PORT [--rtt-ms MS]
//                      [--window-kb KB]
//
// Runs until SIGINT/SIGTERM. Not a product part: bench/ only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Set by SIGINT/SIGTERM: the only global state, as a handler reaches nothing else.
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

bool ParseAddress(const std::string& text, sockaddr_in* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  *out = {};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

// One direction of a connection: bytes read from `from` are written to `to`
// `delay` later. Ends on end of stream or error, then shuts down `to`.
class Pipe {
 public:
  Pipe(int from, int to, Clock::duration one_way, Clock::time_point open_at, size_t max_window)
      : from_(from), to_(to), delay_(one_way), open_at_(open_at), max_window_(max_window) {}
  void Run() {
    std::thread writer([this] { WriteLoop(); });
    ReadLoop();
    writer.join();
  }

 private:
  static constexpr size_t kBufferSize = 256 << 10;
  static constexpr size_t kInitialWindow = 10 * 1448;
  struct Piece {
    Clock::time_point due;
    std::unique_ptr<char[]> buffer;  // kBufferSize bytes, reused
    size_t size = 0;
  };
  struct Ack {
    Clock::time_point due;
    size_t size;
  };
  // Buffers go back to spare_ once written: a relay that allocated (and
  // faulted in) a fresh buffer per read would take CPU a link does not.
  std::unique_ptr<char[]> TakeBuffer() {
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.empty()) return std::make_unique<char[]>(kBufferSize);
    std::unique_ptr<char[]> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  // Takes in the acknowledgements that are due; mu_ held.
  void ProcessAcks(Clock::time_point now) {
    while (!acks_.empty() && acks_.front().due <= now) {
      in_flight_ -= acks_.front().size;
      window_ = std::min(max_window_, window_ + acks_.front().size);  // slow start
      acks_.pop_front();
    }
  }
  // Waits until the window has room; returns how much may be read.
  size_t WaitForWindow() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ProcessAcks(Clock::now());
      if (in_flight_ < window_) return std::min(kBufferSize, window_ - in_flight_);
      if (acks_.empty()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, acks_.front().due);
      }
    }
  }
  void ReadLoop() {
    for (;;) {
      const size_t room = WaitForWindow();
      std::unique_ptr<char[]> buf = TakeBuffer();
      ssize_t n = ::read(from_, buf.get(), room);
      if (n < 0 && errno == EINTR) {
        std::lock_guard<std::mutex> lock(mu_);
        spare_.push_back(std::move(buf));
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= 0) {
        eof_ = true;
        cv_.notify_all();
        return;
      }
      // Nothing leaves before the handshake would have completed.
      const Clock::time_point now = Clock::now();
      const Clock::time_point sent = std::max(now, open_at_);
      in_flight_ += static_cast<size_t>(n);
      queue_.push_back({sent + delay_, std::move(buf), static_cast<size_t>(n)});
      cv_.notify_all();
    }
  }
  void WriteLoop() {
    for (;;) {
      Piece piece;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return eof_ || !queue_.empty(); });
        if (queue_.empty()) break;  // eof and drained
        piece = std::move(queue_.front());
        queue_.pop_front();
      }
      std::this_thread::sleep_until(piece.due);
      size_t off = 0;
      while (off < piece.size) {
        ssize_t w = ::send(to_, piece.buffer.get() + off, piece.size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          ::shutdown(from_, SHUT_RD);  // the peer is gone: stop reading too
          ::shutdown(to_, SHUT_WR);
          std::lock_guard<std::mutex> lock(mu_);
          in_flight_ = 0;  // unblock the reader: its next read ends
          cv_.notify_all();
          return;
        }
        off += static_cast<size_t>(w);
      }
      std::lock_guard<std::mutex> lock(mu_);
      // Delivered: acknowledged one way later.
      acks_.push_back({Clock::now() + delay_, piece.size});
      spare_.push_back(std::move(piece.buffer));
      cv_.notify_all();
    }
    ::shutdown(to_, SHUT_WR);
  }
  int from_;
  int to_;
  Clock::duration delay_;
  Clock::time_point open_at_;  // the handshake's end: nothing is sent before
  size_t max_window_;
  std::mutex mu_;  // guards queue_, spare_, eof_, acks_, in_flight_ and window_
  std::condition_variable cv_;
  std::deque<Piece> queue_;
  std::vector<std::unique_ptr<char[]>> spare_;
  std::deque<Ack> acks_;
  size_t in_flight_ = 0;  // read and not yet acknowledged
  size_t window_ = kInitialWindow;
  bool eof_ = false;
};

void Serve(int client, sockaddr_in target, Clock::duration one_way, size_t max_window) {
  // The client's handshake ends one RTT after its SYN, which reached us
  // half an RTT late: its first byte is due an RTT after we accepted.
  const Clock::time_point open_at = Clock::now() + 2 * one_way;
  int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (upstream < 0 ||
      ::connect(upstream, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
    std::perror("delay-relay: connect to target");
    ::close(client);
    if (upstream >= 0) ::close(upstream);
    return;
  }
  int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  Pipe up(client, upstream, one_way, open_at, max_window);
  Pipe down(upstream, client, one_way, open_at, max_window);
  std::thread t([&] { up.Run(); });
  down.Run();
  t.join();
  ::close(client);
  ::close(upstream);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen_at, target_at;
  double rtt_ms = 0.5;
  long window_kb = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--listen")
      listen_at = argv[i + 1];
    else if (flag == "--target")
      target_at = argv[i + 1];
    else if (flag == "--rtt-ms")
      rtt_ms = std::atof(argv[i + 1]);
    else if (flag == "--window-kb")
      window_kb = std::atol(argv[i + 1]);
  }
  sockaddr_in listen_addr, target;
  if (!ParseAddress(listen_at, &listen_addr) || !ParseAddress(target_at, &target) || rtt_ms < 0 ||
      window_kb < 16) {
    std::fprintf(stderr,
                 "usage: syspgo-delay-relay --listen ADDR:PORT --target ADDR:PORT [--rtt-ms MS] "
                 "[--window-kb KB]\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(server, reinterpret_cast<sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
      ::listen(server, 128) != 0) {
    std::perror("delay-relay: listen");
    return 1;
  }
  const auto one_way = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(rtt_ms / 2));
  std::fprintf(stderr, "delay-relay: %s -> %s, rtt %.3f ms, window up to %ld KiB\n",
               listen_at.c_str(), target_at.c_str(), rtt_ms, window_kb);
  while (!g_stop) {
    pollfd p{server, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int client = ::accept4(server, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::thread(Serve, client, target, one_way, static_cast<size_t>(window_kb) << 10).detach();
  }
  ::close(server);
  return 0;
}
