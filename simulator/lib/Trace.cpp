//===- Trace.cpp - the last simulation's tasks and its Chrome trace -------===//
//
// Chrome's trace event format (JSON object with "traceEvents"), which
// ui.perfetto.dev and chrome://tracing open: one process per node with two
// threads per device (kernels, communication), and one process "links" with
// a thread per link resource that carried bytes. Times in microseconds.
//
//===----------------------------------------------------------------------===//
#include "SimulatorImpl.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace soap {

std::vector<TaskInfo> Simulator::tasks() const {
  std::vector<TaskInfo> out;
  if (!ready)
    return out;
  for (int s = 0; s < numSlots; ++s) {
    if (dur[s] <= 0)
      continue;
    TaskInfo t;
    t.kind = slotKind(s);
    t.start = startAt[s];
    t.end = endAt[s];
    if (slotRes[s] >= 0)
      t.resources.assign(setData(slotRes[s]), setData(slotRes[s]) + setSize(slotRes[s]));
    if (s < numOps * kSlotsPerOp) {
      t.op = s / kSlotsPerOp;
      t.name = std::string(toString(t.kind)) + " " + g.ops[t.op].name;
    } else {
      t.edge = (s - numOps * kSlotsPerOp) / kSlotsPerEdge;
      const Edge &e = g.edges[t.edge];
      t.op = e.dst;
      t.name = std::string(toString(t.kind)) + " " + g.ops[e.src].name + "->" +
               g.ops[e.dst].name;
    }
    if (comm[s]) {
      t.devices = comm[s]->devices;
      t.bytes = comm[s]->payload;
    } else {
      t.devices = t.resources;
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string Simulator::traceJson() const {
  using json = nlohmann::json;
  const MachineModel &m = cost.machine();
  json events = json::array();
  const int64_t linksPid = m.nodes;
  for (int64_t n = 0; n < m.nodes; ++n)
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", n},
                      {"args", {{"name", "node " + std::to_string(n)}}}});
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", linksPid},
                    {"args", {{"name", "links"}}}});
  for (int64_t d = 0; d < m.numDevices(); ++d) {
    int64_t local = m.localIndex(d);
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", m.nodeOf(d)},
                      {"tid", 2 * local},
                      {"args", {{"name", "dev" + std::to_string(local) + " kernels"}}}});
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", m.nodeOf(d)},
                      {"tid", 2 * local + 1},
                      {"args", {{"name", "dev" + std::to_string(local) + " comm"}}}});
  }
  std::vector<char> linkNamed(m.numResources(), 0);
  for (const TaskInfo &t : tasks()) {
    double ts = t.start * 1e6, du = (t.end - t.start) * 1e6;
    json args = {{"kind", toString(t.kind)}};
    if (t.bytes > 0)
      args["bytes"] = t.bytes;
    if (isComputeKind(t.kind)) {
      for (int d : t.resources)
        events.push_back({{"name", t.name},
                          {"cat", toString(t.kind)},
                          {"ph", "X"},
                          {"ts", ts},
                          {"dur", du},
                          {"pid", m.nodeOf(d)},
                          {"tid", 2 * m.localIndex(d)},
                          {"args", args}});
      continue;
    }
    for (int d : t.devices)
      events.push_back({{"name", t.name},
                        {"cat", toString(t.kind)},
                        {"ph", "X"},
                        {"ts", ts},
                        {"dur", du},
                        {"pid", m.nodeOf(d)},
                        {"tid", 2 * m.localIndex(d) + 1},
                        {"args", args}});
    for (int r : t.resources) {
      if (!linkNamed[r]) {
        linkNamed[r] = 1;
        events.push_back({{"name", "thread_name"},
                          {"ph", "M"},
                          {"pid", linksPid},
                          {"tid", r},
                          {"args", {{"name", m.resourceName(r)}}}});
      }
      events.push_back({{"name", t.name},
                        {"cat", toString(t.kind)},
                        {"ph", "X"},
                        {"ts", ts},
                        {"dur", du},
                        {"pid", linksPid},
                        {"tid", r},
                        {"args", args}});
    }
  }
  json doc = {{"traceEvents", events},
              {"displayTimeUnit", "ms"},
              {"otherData",
               {{"model", g.modelName},
                {"machine", m.name},
                {"nodes", m.nodes},
                {"devices_per_node", m.devicesPerNode}}}};
  return doc.dump();
}

std::string Simulator::writeTrace(const std::string &path) const {
  if (!ready)
    return "no simulation to trace";
  std::ofstream out(path);
  if (!out)
    return "cannot write '" + path + "'";
  out << traceJson() << '\n';
  return out ? "" : "cannot write '" + path + "'";
}

} // namespace soap
