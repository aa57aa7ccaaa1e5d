//===- DeviceTest.cpp - the CUDA backend on a real device -----------------===//
//
// Skipped (and reported as skipped by ctest) where there is no CUDA device.
//
//===----------------------------------------------------------------------===//
#include "soap/Runtime/Cuda/Device.h"

#include <gtest/gtest.h>

TEST(CudaDevice, SelfTestOnEveryDevice) {
  std::string error;
  auto devices = soap::cuda::listDevices(&error);
  if (devices.empty())
    GTEST_SKIP() << error;
  for (const auto &d : devices) {
    EXPECT_GT(d.memoryBytes, 0) << d.name;
    EXPECT_EQ(soap::cuda::selfTest(d.index), "") << d.name;
  }
}
