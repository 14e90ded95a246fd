// SPDX-License-Identifier: Apache-2.0
#include "common/stream.h"

#include <thread>

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(ChunkPipeTest, CarriesBytesInOrderAcrossThreads) {
  ChunkPipe pipe(1024);  // small bound: the producer must block
  std::string sent;
  std::thread producer([&] {
    for (int i = 0; i < 2000; ++i) {
      std::string chunk(static_cast<size_t>(1 + i % 97), static_cast<char>('a' + i % 26));
      sent += chunk;
      ASSERT_TRUE(pipe.Push({chunk.data(), chunk.size()}));
    }
    pipe.Close(Status::Ok());
  });
  std::string got;
  char buf[333];
  for (;;) {
    auto n = pipe.Read(buf);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    got.append(buf, *n);
  }
  producer.join();
  EXPECT_EQ(got, sent);
}

TEST(ChunkPipeTest, ProducerErrorReachesConsumer) {
  ChunkPipe pipe;
  pipe.Push({"abc", 3});
  pipe.Close(Corruption("digest mismatch"));
  char buf[8];
  auto n = pipe.Read(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  auto err = pipe.Read(buf);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().message(), "digest mismatch");
}

TEST(ChunkPipeTest, AbandonUnblocksProducer) {
  ChunkPipe pipe(4);
  std::thread producer([&] {
    EXPECT_TRUE(pipe.Push({"1234", 4}));
    EXPECT_FALSE(pipe.Push({"5678", 4}));  // blocks until abandoned
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pipe.Abandon();
  producer.join();
}

TEST(ReadFullyTest, StopsAtEnd) {
  StringReader r("hello");
  char buf[16];
  auto n = ReadFully(r, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
}

}  // namespace
}  // namespace syspgo
