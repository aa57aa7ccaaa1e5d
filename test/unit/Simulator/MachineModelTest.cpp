//===- MachineModelTest.cpp - presets, routes, errors ---------------------===//
#include "TestGraphs.h"

#include "soap/Simulator/MachineModel.h"

#include <gtest/gtest.h>

#include <set>

using namespace soap;

TEST(SimulatorMachineModel, PresetsLoad) {
  std::vector<std::string> names = MachineModel::presetNames();
  for (const char *want : {"p100", "k80", "dgx-a100", "dgx-h100", "cpu-host"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const std::string &n : names) {
    auto m = MachineModel::loadPreset(n);
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_EQ(m->name, n);
    EXPECT_GT(m->device.peakF32, 0);
    EXPECT_GT(m->device.memoryBytes, 0);
    for (const LinkSpec &l : m->links)
      EXPECT_FALSE(l.source.empty()) << n << ": link " << l.name << " cites no source";
    EXPECT_FALSE(m->device.sources.empty()) << n;
  }
}

TEST(SimulatorMachineModel, VendorFigures) {
  auto a = MachineModel::loadPreset("dgx-a100");
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->devicesPerNode, 8);
  EXPECT_DOUBLE_EQ(a->device.peakBf16, 312e12);
  EXPECT_DOUBLE_EQ(a->device.memoryBandwidth, 2039e9);
  EXPECT_DOUBLE_EQ(a->links[0].bandwidth, 300e9); // 600 GB/s both ways
  EXPECT_EQ(a->links[1].count, 8);
  EXPECT_DOUBLE_EQ(a->links[1].bandwidth, 25e9); // 200 Gb/s
  auto h = MachineModel::loadPreset("dgx-h100");
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_DOUBLE_EQ(h->device.peakBf16, 989.4e12);
  EXPECT_DOUBLE_EQ(h->device.memoryBandwidth, 3.35e12);
  EXPECT_DOUBLE_EQ(h->links[0].bandwidth, 450e9);
  EXPECT_DOUBLE_EQ(h->links[1].bandwidth, 50e9);
}

TEST(SimulatorMachineModel, NodesOverrideAndFingerprint) {
  auto one = MachineModel::loadPreset("dgx-a100");
  auto four = MachineModel::loadPreset("dgx-a100", MachineOverrides{4, {}});
  ASSERT_TRUE(one.ok() && four.ok());
  EXPECT_EQ(four->nodes, 4);
  EXPECT_EQ(four->numDevices(), 32);
  EXPECT_NE(one->fingerprint(), four->fingerprint());
  auto again = MachineModel::loadPreset("dgx-a100", MachineOverrides{4, {}});
  EXPECT_EQ(four->fingerprintHex(), again->fingerprintHex());
  EXPECT_EQ(four->fingerprintHex().size(), 16u);
  // The JSON form round-trips to the same model.
  auto back = MachineModel::parse(four->toJson(), "roundtrip");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->fingerprint(), four->fingerprint());
}

TEST(SimulatorMachineModel, Routes) {
  auto m = MachineModel::loadPreset("dgx-a100", MachineOverrides{2, {}});
  ASSERT_TRUE(m.ok());
  std::vector<int> r;
  // Within a node: source port out, destination port in.
  double lat = m->route(1, 5, r);
  EXPECT_DOUBLE_EQ(lat, 3e-6);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(m->resourceName(r[0]), "node0.nvlink3.dev1.tx");
  EXPECT_EQ(m->resourceName(r[1]), "node0.nvlink3.dev5.rx");
  // Across nodes: GPU 3 uses NIC 3 of its node.
  r.clear();
  lat = m->route(3, 8 + 6, r);
  EXPECT_DOUBLE_EQ(lat, 5e-6);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(m->resourceName(r[0]), "node0.hdr-ib3.tx");
  EXPECT_EQ(m->resourceName(r[1]), "node1.hdr-ib6.rx");
  EXPECT_DOUBLE_EQ(m->routeBandwidth(3, 14), 25e9 * 0.9);
  r.clear();
  EXPECT_EQ(m->route(4, 4, r), 0);
  EXPECT_TRUE(r.empty());
  // Resource names are unique.
  std::set<std::string> names;
  for (int i = 0; i < m->numResources(); ++i)
    EXPECT_TRUE(names.insert(m->resourceName(i)).second) << m->resourceName(i);
}

TEST(SimulatorMachineModel, PairLinksAndSharedNics) {
  // p100: a link per GPU pair and one NIC per node that all four GPUs share.
  auto m = MachineModel::loadPreset("p100");
  ASSERT_TRUE(m.ok()) << m.error();
  std::vector<int> a, b;
  m->route(0, 1, a);
  m->route(1, 0, b);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_NE(a[0], b[0]); // each direction is its own resource
  a.clear();
  b.clear();
  m->route(0, 4, a);
  m->route(1, 5, b);
  // PCIe of each GPU, then the same NIC (tx of node 0, rx of node 1).
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[2], b[2]);
  EXPECT_EQ(a[3], b[3]);
}

//===----------------------------------------------------------------------===//
// Errors name the file and the field
//===----------------------------------------------------------------------===//

static std::string errorOf(const std::string &text) {
  auto m = MachineModel::parse(text, "bad.json");
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.error();
}

static std::string withField(const std::string &from, const std::string &to) {
  std::string s = test::roundMachineJson(1, 4);
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

TEST(SimulatorMachineModel, InOrderExecution) {
  // Absent: false, and not written (the machines without it keep their
  // fingerprints).
  auto gpu = MachineModel::loadPreset("dgx-h100");
  ASSERT_TRUE(gpu.ok()) << gpu.error();
  EXPECT_FALSE(gpu->inOrderExecution);
  EXPECT_EQ(gpu->toJson().find("in_order_execution"), std::string::npos);
  // cpu-host: Soap's CPU ranks run their task lists in order.
  auto cpu = MachineModel::loadPreset("cpu-host");
  ASSERT_TRUE(cpu.ok()) << cpu.error();
  EXPECT_TRUE(cpu->inOrderExecution);
  EXPECT_TRUE(cpu->communicationOccupiesDevices);
  // Read and written back; it is part of the fingerprint.
  auto back = MachineModel::parse(cpu->toJson(), "roundtrip");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_TRUE(back->inOrderExecution);
  EXPECT_EQ(back->fingerprint(), cpu->fingerprint());
  MachineModel other = *cpu;
  other.inOrderExecution = false;
  EXPECT_NE(other.fingerprint(), cpu->fingerprint());
  std::string json = test::roundMachineJson(1, 2);
  json.replace(json.rfind('}'), 1, R"(, "in_order_execution": "yes"})");
  auto bad = MachineModel::parse(json, "bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "bad.json: $.in_order_execution: must be true or false, got \"yes\"");
}

TEST(SimulatorMachineModel, Errors) {
  EXPECT_NE(errorOf("{").find("bad.json: not valid JSON"), std::string::npos);
  EXPECT_EQ(errorOf("[]"), "bad.json: $: must be an object, got []");
  EXPECT_EQ(errorOf(withField(R"("format": "soap-machine", )", "")),
            "bad.json: $: missing required field 'format'");
  EXPECT_EQ(errorOf(withField(R"("version": 1)", R"("version": 2)")),
            "bad.json: $.version: unsupported version 2 (this reader knows version 1)");
  EXPECT_EQ(errorOf(withField(R"("nodes": 1)", R"("nodes": 0)")),
            "bad.json: $.nodes: must be a positive integer, got 0");
  EXPECT_EQ(errorOf(withField(R"("devices_per_node": 4)", R"("devices_per_node": "four")")),
            "bad.json: $.devices_per_node: must be a positive integer or \"auto\", got \"four\"");
  EXPECT_EQ(errorOf(withField(R"("f32": 1e12)", R"("f32": "fast")")),
            "bad.json: $.device.peak_flops.f32: must be a number, got \"fast\"");
  EXPECT_EQ(errorOf(withField(R"("f32": 1e12)", R"("f32": 1e12, "fp8": 2e12)")),
            "bad.json: $.device.peak_flops.fp8: unknown dtype (known: f64, f32, tf32, f16, bf16)");
  EXPECT_EQ(errorOf(withField(R"("memory_bandwidth_bytes_per_s": 1e9,)", "")),
            "bad.json: $.device: missing required field 'memory_bandwidth_bytes_per_s'");
  EXPECT_EQ(errorOf(withField(R"("gemm_efficiency": 1)", R"("gemm_efficiency": 1.5)")),
            "bad.json: $.device.gemm_efficiency: must be a number in (0, 1], got 1.5");
  EXPECT_EQ(errorOf(withField(R"("scope": "device")", R"("scope": "rack")")),
            "bad.json: $.links[0].scope: unknown scope \"rack\" (known: \"device\", "
            "\"pair\", \"node\", \"node-shared\")");
  EXPECT_EQ(errorOf(withField(R"("kind": "nvswitch")", R"("kind": "warp")")),
            "bad.json: $.links[0].kind: unknown link kind \"warp\" (known: \"nvlink\", "
            "\"nvswitch\", \"pcie\", \"infiniband\", \"ethernet\", \"shared-memory\")");
  EXPECT_EQ(errorOf(withField(R"("bandwidth_bytes_per_s": 1e9, "latency_s": 1e-6},)",
                              R"("bandwidth_bytes_per_s": -1, "latency_s": 1e-6},)")),
            "bad.json: $.links[0].bandwidth_bytes_per_s: must be positive, got -1");
  EXPECT_EQ(errorOf(withField(R"("intra_node": ["fabric"])", R"("intra_node": ["fabrik"])")),
            "bad.json: $.routes.intra_node[0]: names no link in $.links: \"fabrik\"");
  EXPECT_EQ(errorOf(withField(R"("intra_node": ["fabric"])", R"("intra_node": ["nic"])")),
            "bad.json: $.routes.intra_node: link \"nic\" has scope \"node\", which "
            "cannot carry transfers within a node");
  EXPECT_EQ(errorOf(withField(R"("intra_node": ["fabric"])", R"("intra_node": [])")),
            "bad.json: $.routes.intra_node: needed: a node has 4 devices");
  EXPECT_EQ(errorOf(withField(R"("routes")", R"("collectives": {"all_reduce": "magic"}, "routes")")),
            "bad.json: $.collectives.all_reduce: unknown algorithm \"magic\" (known: "
            "\"auto\", \"ring\", \"tree\", \"hierarchical\")");
  auto missing = MachineModel::load("/nonexistent/machine.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "/nonexistent/machine.json: cannot open the machine file");
  auto unknown = MachineModel::loadPreset("dgx-z900");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("unknown machine preset 'dgx-z900'"), std::string::npos);
}

TEST(SimulatorMachineModel, FewerDevicesPerNodeKeepOneNicEach) {
  // A DGX-A100 cut to 4 GPUs per node keeps the 4 NICs next to them.
  auto m = MachineModel::loadPreset("dgx-a100", MachineOverrides{2, 4});
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->numDevices(), 8);
  for (const LinkSpec &l : m->links)
    if (l.scope == LinkScope::Node)
      EXPECT_LE(l.count, 4) << l.name;
}
