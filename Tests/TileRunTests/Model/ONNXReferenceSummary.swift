import Foundation
import TileRun
import XCTest

/// Where the ONNX backend node tests are: $ONNX_BACKEND_DATA, .build/onnx-node-tests (see
/// Tests/Tools/fetch-onnx-node-tests.sh), or the data folder of Python's `onnx` package (wheels
/// before 1.17 ship it).
enum ONNXBackendData {
    static func nodeFolder() throws -> URL {
        func holdsNodeTests(_ url: URL) -> Bool {
            FileManager.default.fileExists(atPath: url.appendingPathComponent("test_abs/model.onnx").path)
        }
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["ONNX_BACKEND_DATA"], !env.isEmpty {
            let url = URL(fileURLWithPath: env)
            candidates += [url.appendingPathComponent("node"), url]
        }
        candidates.append(SharedData.packageRoot.appendingPathComponent(".build/onnx-node-tests/node"))
        if let found = candidates.first(where: holdsNodeTests) { return found }
        if let package = python(["-c", "import onnx, os; print(os.path.dirname(onnx.__file__))"])?
            .trimmingCharacters(in: .whitespacesAndNewlines), !package.isEmpty {
            let url = URL(fileURLWithPath: package).appendingPathComponent("backend/test/data/node")
            if holdsNodeTests(url) { return url }
        }
        throw XCTSkip("ONNX backend node tests not found: set ONNX_BACKEND_DATA, or run Tests/Tools/fetch-onnx-node-tests.sh")
    }

    /// `ONNXSummary` of every model and tensor file under `node` by relative path, and the errors
    /// of the cases that failed to load.
    static func loadAll(_ node: URL) throws -> (summaries: [String: String], failures: [String]) {
        let files = FileManager.default
        var summaries: [String: String] = [:]
        var failures: [String] = []
        for name in try files.contentsOfDirectory(atPath: node.path).sorted() {
            let folder = node.appendingPathComponent(name)
            let modelPath = folder.appendingPathComponent("model.onnx").path
            guard files.fileExists(atPath: modelPath) else { continue }
            do {
                let model = try ONNXModel.load(path: modelPath)
                summaries[name + "/model.onnx"] = ONNXSummary.model(model)
                for set in try files.contentsOfDirectory(atPath: folder.path).sorted() where set.hasPrefix("test_data_set_") {
                    for file in try files.contentsOfDirectory(atPath: folder.appendingPathComponent(set).path).sorted()
                        where file.hasSuffix(".pb") {
                        // Sequences, maps and optionals are stored as other messages; tilerun runs tensors.
                        let parts = file.dropLast(3).split(separator: "_")
                        let infos = parts.first == "input" ? model.graph.inputs : model.graph.outputs
                        guard parts.count == 2, let index = Int(parts[1]), index < infos.count, infos[index].kind == .tensor else {
                            continue
                        }
                        let tensor = try ONNXTensor.load(path: folder.appendingPathComponent(set).appendingPathComponent(file).path)
                        summaries["\(name)/\(set)/\(file)"] = ONNXSummary.tensor(tensor)
                    }
                }
            } catch {
                failures.append("\(error)")
            }
        }
        return (summaries, failures)
    }

    /// onnx's own reading of every model and tensor file under `node`, as `ONNXSummary` writes it;
    /// nil when Python or its onnx package is missing.
    static func pythonSummaries(of node: URL) -> [String: String]? {
        guard let output = python(["-c", summaryScript, node.path]) else { return nil }
        var result: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result.isEmpty ? nil : result
    }

    /// Prints "relative path<TAB>summary" for every model.onnx and tensor .pb under argv[1].
    private static let summaryScript = #"""
import os, sys, zlib, struct
import numpy as np
import onnx
from onnx import numpy_helper, TensorProto, AttributeProto

def tensor(t):
    a = numpy_helper.to_array(t)
    if t.data_type == TensorProto.STRING:
        data = b"".join((x if isinstance(x, bytes) else str(x).encode()) + b"\0" for x in a.flat)
    elif t.data_type == TensorProto.BOOL:
        data = np.ascontiguousarray(a).astype(np.uint8).tobytes()
    else:
        data = np.ascontiguousarray(a).tobytes()
        bits = {21: 4, 22: 4, 23: 4, 25: 2, 26: 2, 27: 6, 28: 6}.get(t.data_type)
        if bits:
            data = bytes(b & ((1 << bits) - 1) for b in data)
    return "%d;%s;%08x" % (t.data_type, ",".join(map(str, t.dims)), zlib.crc32(data))

def f32(x):
    return "%08x" % struct.unpack("<I", struct.pack("<f", x))[0]

def attr(a):
    T = AttributeProto
    v = {T.FLOAT: lambda: f32(a.f), T.INT: lambda: str(a.i), T.STRING: lambda: a.s.decode("utf-8", "replace"),
         T.TENSOR: lambda: tensor(a.t), T.GRAPH: lambda: graph(a.g),
         T.FLOATS: lambda: ",".join(map(f32, a.floats)), T.INTS: lambda: ",".join(map(str, a.ints)),
         T.STRINGS: lambda: "|".join(s.decode("utf-8", "replace") for s in a.strings),
         T.TENSORS: lambda: "|".join(map(tensor, a.tensors)), T.GRAPHS: lambda: "|".join(map(graph, a.graphs))}
    return "%s=%s" % (a.name, v[a.type]() if a.type in v else "unsupported")

def value_info(v):
    kind = {"tensor_type": "tensor", "sparse_tensor_type": "sparse tensor", "sequence_type": "sequence",
            "map_type": "map", "optional_type": "optional", "opaque_type": "opaque", None: "unspecified"}[v.type.WhichOneof("value")]
    s = kind
    if kind in ("tensor", "sparse tensor"):
        tt = v.type.tensor_type if kind == "tensor" else v.type.sparse_tensor_type
        s += ":%s" % (tt.elem_type or "nil")
        if tt.HasField("shape"):
            dims = []
            for d in tt.shape.dim:
                w = d.WhichOneof("value")
                dims.append(str(d.dim_value) if w == "dim_value" and d.dim_value >= 0 else "$" + d.dim_param if w == "dim_param" and d.dim_param else "?")
            s += "[" + ",".join(dims) + "]"
        else:
            s += "norank"
    return v.name + ":" + s

def dom(d):
    return "" if d == "ai.onnx" else d

def graph(g):
    nodes = ["%s|%s|%s|%s|%s|%s" % (n.name, n.op_type, dom(n.domain), ",".join(n.input), ",".join(n.output),
                                    ";".join(sorted(attr(a) for a in n.attribute))) for n in g.node]
    return "{%s/%s/%s/%s/%s/%s}" % (g.name, " ".join(nodes), " ".join(map(tensor, g.initializer)),
                                    " ".join(map(value_info, g.input)), " ".join(map(value_info, g.output)),
                                    " ".join(map(value_info, g.value_info)))

root = sys.argv[1]
for case in sorted(os.listdir(root)):
    path = os.path.join(root, case, "model.onnx")
    if not os.path.exists(path):
        continue
    m = onnx.load(path)
    opsets = ",".join(sorted("%s:%d" % (dom(o.domain), o.version) for o in m.opset_import))
    print("%s\t%d %s %s" % (case + "/model.onnx", m.ir_version, opsets, graph(m.graph)))
    for ds in sorted(os.listdir(os.path.join(root, case))):
        if not ds.startswith("test_data_set_"):
            continue
        for name in sorted(os.listdir(os.path.join(root, case, ds))):
            kind, _, index = name[:-3].partition("_")
            infos = m.graph.input if kind == "input" else m.graph.output
            if int(index) >= len(infos) or infos[int(index)].type.WhichOneof("value") != "tensor_type":
                continue
            t = TensorProto()
            with open(os.path.join(root, case, ds, name), "rb") as f:
                t.ParseFromString(f.read())
            print("%s\t%s" % ("/".join((case, ds, name)), tensor(t)))
"""#

    /// Standard output of `python3 arguments`, or nil when it cannot run or fails.
    private static func python(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// One-line summaries of decoded models and tensors, in the notation of `ONNXBackendData.summaryScript`, so
/// that tilerun's decoding can be compared with onnx's field by field.
enum ONNXSummary {
    static func model(_ model: ONNXModel) -> String {
        let opsets = model.opsetImports.map { "\($0.key):\($0.value)" }.sorted().joined(separator: ",")
        return "\(model.irVersion) \(opsets) \(graph(model.graph))"
    }

    static func graph(_ g: ONNXGraph) -> String {
        let nodes = g.nodes.map { n in
            let attributes = n.attributes.map { "\($0.key)=\(attribute($0.value))" }.sorted().joined(separator: ";")
            return [n.name, n.opType, n.domain, n.inputs.joined(separator: ","), n.outputs.joined(separator: ","), attributes]
                .joined(separator: "|")
        }
        let parts = [g.name, nodes.joined(separator: " "), g.initializers.map(tensor).joined(separator: " "),
                     g.inputs.map(valueInfo).joined(separator: " "), g.outputs.map(valueInfo).joined(separator: " "),
                     g.valueInfo.map(valueInfo).joined(separator: " ")]
        return "{" + parts.joined(separator: "/") + "}"
    }

    static func attribute(_ a: ONNXAttribute) -> String {
        switch a {
        case .float(let v): return hex(v)
        case .int(let v): return "\(v)"
        case .string(let v): return v
        case .tensor(let t): return tensor(t)
        case .graph(let g): return graph(g)
        case .floats(let v): return v.map(hex).joined(separator: ",")
        case .ints(let v): return v.map(String.init).joined(separator: ",")
        case .strings(let v): return v.joined(separator: "|")
        case .tensors(let v): return v.map(tensor).joined(separator: "|")
        case .graphs(let v): return v.map(graph).joined(separator: "|")
        case .unsupported: return "unsupported"
        }
    }

    static func valueInfo(_ v: ONNXValueInfo) -> String {
        var s = "\(v.name):\(v.kind.rawValue)"
        guard v.kind == .tensor || v.kind == .sparseTensor else { return s }
        s += ":" + (v.elemType.map { "\($0.rawValue)" } ?? "nil")
        guard let shape = v.shape else { return s + "norank" }
        let dims = shape.map { d -> String in
            switch d {
            case .value(let n): return "\(n)"
            case .parameter(let p): return "$" + p
            case .unknown: return "?"
            }
        }
        return s + "[" + dims.joined(separator: ",") + "]"
    }

    /// Data type, dims and the CRC-32 of the values' little-endian bytes (strings NUL-terminated,
    /// bools and codes one byte each).
    static func tensor(_ t: ONNXTensor) -> String {
        var crc = CRC32()
        switch t.storage {
        case .float(let v): crc.add(v)
        case .double(let v): crc.add(v)
        case .float16(let v): crc.add(v)
        case .bfloat16(let v): crc.add(v)
        case .int8(let v): crc.add(v)
        case .int16(let v): crc.add(v)
        case .int32(let v): crc.add(v)
        case .int64(let v): crc.add(v)
        case .uint8(let v): crc.add(v)
        case .uint16(let v): crc.add(v)
        case .uint32(let v): crc.add(v)
        case .uint64(let v): crc.add(v)
        case .bool(let v): crc.add(v.map { $0 ? UInt8(1) : 0 })
        case .string(let v): crc.add(v.reduce(into: [UInt8]()) { $0 += Array($1.utf8) + [0] })
        case .complex64(let v): crc.add(v)
        case .complex128(let v): crc.add(v)
        case .codes(let v): crc.add(v)
        }
        let hexCRC = String(crc.value, radix: 16)
        return "\(t.dataType.rawValue);\(t.dims.map(String.init).joined(separator: ","));"
            + String(repeating: "0", count: 8 - hexCRC.count) + hexCRC
    }

    private static func hex(_ v: Float) -> String {
        let digits = String(v.bitPattern, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// CRC-32 (zlib's), to compare decoded values with Python's without shipping them around.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }
    private var crc: UInt32 = 0xFFFF_FFFF

    var value: UInt32 { crc ^ 0xFFFF_FFFF }

    mutating func add<T>(_ values: [T]) {
        values.withUnsafeBytes { bytes in
            for byte in bytes { crc = CRC32.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
    }
}
