import Foundation
import TileRun
import XCTest

final class ONNXLoaderTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Protobuf wire format

    func testReaderDecodesVarintsFixedAndStrings() throws {
        var e = ProtobufTestEncoder()
        let varints: [UInt64] = [0, 1, 127, 128, 300, 16_383, 16_384, UInt64(Int64.max), UInt64.max]
        for v in varints { e.varint(1, v) }
        e.int(2, -1)
        e.int(2, Int64.min)
        e.fixed32(3, 0xDEAD_BEEF)
        e.fixed64(4, 0x0123_4567_89AB_CDEF)
        e.string(5, "héllo")
        var reader = ProtobufReader(bytes: e.bytes, message: "Test")
        var got: [UInt64] = []
        var ints: [Int64] = []
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: got.append(try reader.varint())
            case 2: ints.append(try reader.int64(wire))
            case 3: XCTAssertEqual(try reader.fixed32(), 0xDEAD_BEEF)
            case 4: XCTAssertEqual(try reader.fixed64(), 0x0123_4567_89AB_CDEF)
            case 5: XCTAssertEqual(try reader.string(wire), "héllo")
            default: XCTFail("unexpected field \(field)")
            }
        }
        XCTAssertEqual(got, varints)
        XCTAssertEqual(ints, [-1, Int64.min])
        XCTAssertTrue(reader.isAtEnd)
    }

    func testRepeatedScalarsAcceptedPackedAndUnpacked() throws {
        var e = ProtobufTestEncoder()
        e.packedInt64s(1, [1, -2, 300])
        e.int(1, 4)
        e.int(1, -5)
        e.packedFloats(2, [0.5, -1.25])
        e.float(2, 3)
        e.packedDoubles(3, [1e300])
        e.fixed64(3, (2.5).bitPattern)
        var reader = ProtobufReader(bytes: e.bytes, message: "Test")
        var ints: [Int64] = [], floats: [Float] = [], doubles: [Double] = []
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: try reader.appendInt64s(wire, to: &ints)
            case 2: try reader.appendFloats(wire, to: &floats)
            case 3: try reader.appendDoubles(wire, to: &doubles)
            default: XCTFail("unexpected field \(field)")
            }
        }
        XCTAssertEqual(ints, [1, -2, 300, 4, -5])
        XCTAssertEqual(floats, [0.5, -1.25, 3])
        XCTAssertEqual(doubles, [1e300, 2.5])
    }

    func testReaderRefusesMalformedInput() {
        func failure(_ bytes: [UInt8], _ read: (inout ProtobufReader) throws -> Void) -> String? {
            var reader = ProtobufReader(bytes: bytes, message: "Test")
            do {
                try read(&reader)
                return nil
            } catch {
                return "\(error)"
            }
        }
        let readAll: (inout ProtobufReader) throws -> Void = { r in
            while let (_, wire) = try r.nextField() { try r.skip(wire) }
        }
        // An 11-byte varint, a length past the end, a group, field number 0, a cut fixed64.
        XCTAssertEqual(failure([0x08] + [UInt8](repeating: 0xFF, count: 10) + [0x01], readAll),
                       "varint longer than 64 bits at byte 1 (field 1 of Test)")
        XCTAssertEqual(failure([0x0A, 0x05, 0x01], readAll), "truncated protobuf at byte 1 (field 1 of Test)")
        XCTAssertEqual(failure([0x0B], readAll), "unsupported wire type 3 at byte 0 (field 1 of Test)")
        XCTAssertEqual(failure([0x00, 0x01], readAll), "invalid field number 0 at byte 0 (Test)")
        XCTAssertEqual(failure([0x09, 1, 2, 3], readAll), "truncated protobuf at byte 1 (field 1 of Test)")
        // Packed floats must be whole 4-byte values; a varint where a string belongs is refused.
        XCTAssertNotNil(failure([0x0A, 0x03, 1, 2, 3]) { r in
            var floats: [Float] = []
            while let (_, wire) = try r.nextField() { try r.appendFloats(wire, to: &floats) }
        })
        XCTAssertEqual(failure([0x08, 0x01]) { r in
            while let (_, wire) = try r.nextField() { _ = try r.string(wire) }
        }, "wire type 0 where 2 was expected at byte 1 (field 1 of Test)")
    }

    func testDeeplyNestedSubgraphsAreRefused() {
        // An If node whose then_branch holds an If node ... 150 deep.
        func graph(depth: Int) -> (inout ProtobufTestEncoder) -> Void {
            { g in
                guard depth > 0 else { return }
                g.message(1) { n in
                    n.string(4, "If")
                    n.message(5, ONNXTestProto.attribute("then_branch", type: 5) { a in a.message(6, graph(depth: depth - 1)) })
                }
            }
        }
        let bytes = ONNXTestProto.model(graph: graph(depth: 150))
        XCTAssertThrowsError(try ONNXModel(bytes: bytes, source: "deep.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("deep.onnx: messages nested more than 100 deep"), "\(error)")
        }
        XCTAssertNoThrow(try ONNXModel(bytes: ONNXTestProto.model(graph: graph(depth: 20))))
    }

    // MARK: A hand-built model

    /// W (1×1×3×3) in raw_data, B in unpacked float_data, a Reshape target in int64_data; a Conv with
    /// ints (packed and unpacked), a string and an int attribute and an omitted bias; a LeakyRelu
    /// with a float attribute in the explicit "ai.onnx" domain; symbolic and unknown dimensions.
    static let weights: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, -9.5]

    static func tinyModel(metadata: [(String, String)] = []) -> [UInt8] {
        ONNXTestProto.model(opsets: [("", 13), ("ai.onnx.ml", 3)], metadata: metadata) { g in
            g.message(1) { n in
                n.string(1, "x")
                n.string(1, "W")
                n.string(1, "")
                n.string(2, "y")
                n.string(3, "conv1")
                n.string(4, "Conv")
                n.message(5, ONNXTestProto.attribute("kernel_shape", type: 7) { a in a.packedInt64s(8, [3, 3]) })
                n.message(5, ONNXTestProto.attribute("strides", type: 7) { a in a.int(8, 2); a.int(8, 2) })
                n.message(5, ONNXTestProto.attribute("pads", type: 7) { a in a.packedInt64s(8, [1, 1, 1, 1]) })
                n.message(5, ONNXTestProto.attribute("auto_pad", type: 3) { a in a.string(4, "NOTSET") })
                n.message(5, ONNXTestProto.attribute("group", type: 2) { a in a.int(3, 1) })
            }
            g.message(1) { n in
                n.string(1, "y")
                n.string(2, "z")
                n.string(3, "act")
                n.string(4, "LeakyRelu")
                n.string(7, "ai.onnx")
                n.message(5, ONNXTestProto.attribute("alpha", type: 1) { a in a.float(2, 0.1) })
            }
            g.message(1) { n in
                n.string(1, "z")
                n.string(1, "shape")
                n.string(2, "out")
                n.string(4, "Reshape")
            }
            g.string(2, "tiny")
            g.message(5, ONNXTestProto.tensor(name: "W", type: 1, dims: [1, 1, 3, 3]) { t in
                t.bytes(9, ONNXTestProto.rawFloats(weights))
            })
            g.message(5, ONNXTestProto.tensor(name: "B", type: 1, dims: [2]) { t in
                t.float(4, 0.5)
                t.float(4, -1.5)
            })
            g.message(5, ONNXTestProto.tensor(name: "shape", type: 7, dims: [2]) { t in t.packedInt64s(7, [1, -1]) })
            g.message(11, ONNXTestProto.valueInfo("x", shape: ["batch", 1, "height", "width"]))
            g.message(12, ONNXTestProto.valueInfo("out", shape: [nil, 9]))
            g.message(13, ONNXTestProto.valueInfo("y", shape: nil))
            g.message(13, ONNXTestProto.valueInfo("z", elemType: 7, shape: []))
        }
    }

    func testHandBuiltModelDecodes() throws {
        let bytes = Self.tinyModel(metadata: [("tilerun.bands", "3,2,1"), ("author", "tests")])
        let path = directory.appendingPathComponent("tiny.onnx").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let model = try ONNXModel.load(path: path)

        XCTAssertEqual(model.source, path)
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.producerName, "tilerun-tests")
        XCTAssertEqual(model.producerVersion, "1.0")
        XCTAssertEqual(model.opsetImports, ["": 13, "ai.onnx.ml": 3])
        XCTAssertEqual(model.defaultOpset, 13)
        XCTAssertEqual(model.metadata, ["tilerun.bands": "3,2,1", "author": "tests"])

        let graph = model.graph
        XCTAssertEqual(graph.name, "tiny")
        XCTAssertEqual(graph.nodes.map(\.opType), ["Conv", "LeakyRelu", "Reshape"])
        let conv = graph.nodes[0]
        XCTAssertEqual(conv.name, "conv1")
        XCTAssertEqual(conv.domain, "")
        XCTAssertEqual(conv.inputs, ["x", "W", ""])
        XCTAssertEqual(conv.outputs, ["y"])
        XCTAssertEqual(conv.attributes, ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]),
                                         "auto_pad": .string("NOTSET"), "group": .int(1)])
        XCTAssertEqual(graph.nodes[1].domain, "", "ai.onnx is folded into the default domain")
        XCTAssertEqual(graph.nodes[1].attributes["alpha"], .float(0.1))

        XCTAssertEqual(graph.initializers.map(\.name), ["W", "B", "shape"])
        XCTAssertEqual(graph.initializers[0], ONNXTensor(name: "W", dataType: .float, dims: [1, 1, 3, 3], storage: .float(Self.weights)))
        XCTAssertEqual(graph.initializers[1].storage, .float([0.5, -1.5]))
        XCTAssertEqual(graph.initializers[2].dataType, .int64)
        XCTAssertEqual(graph.initializers[2].storage, .int64([1, -1]))
        XCTAssertEqual(graph.initializers[2].int64Values(), [1, -1])
        XCTAssertEqual(graph.initializers[2].floatValues(), [1, -1])

        XCTAssertEqual(graph.inputs.count, 1)
        XCTAssertEqual(graph.inputs[0].name, "x")
        XCTAssertEqual(graph.inputs[0].kind, .tensor)
        XCTAssertEqual(graph.inputs[0].elemType, .float)
        XCTAssertEqual(graph.inputs[0].shape, [.parameter("batch"), .value(1), .parameter("height"), .parameter("width")])
        XCTAssertEqual(graph.outputs[0].shape, [.unknown, .value(9)])
        XCTAssertEqual(graph.valueInfo.map(\.name), ["y", "z"])
        XCTAssertNil(graph.valueInfo[0].shape, "no shape message: unknown rank")
        XCTAssertEqual(graph.valueInfo[1].shape, [], "empty shape message: scalar")
        XCTAssertEqual(graph.valueInfo[1].elemType, .int64)

        // The same bytes in memory decode to the same model.
        XCTAssertEqual(try ONNXModel(bytes: bytes).graph, graph)
    }

    func testEveryTruncationAndCorruptionThrowsOrParses() {
        let bytes = Self.tinyModel(metadata: [("tilerun.classes", #"[{"value": 0, "name": "a"}]"#)])
        var parsed = 0
        for length in 0..<bytes.count {
            do {
                _ = try ONNXModel(bytes: Array(bytes[..<length]), source: "cut.onnx")
                parsed += 1
            } catch let error as ModelError {
                XCTAssertEqual(error.path, "cut.onnx")
                XCTAssertFalse(error.problem.isEmpty)
            } catch {
                XCTFail("prefix of \(length) bytes: \(error) is not a ModelError")
            }
        }
        // A prefix that ends between fields can be a valid (smaller) message; most are not.
        XCTAssertLessThan(parsed, bytes.count / 4)
        for index in bytes.indices {
            for value: UInt8 in [0x00, 0xFF, 0x80, bytes[index] ^ 0x01, bytes[index] &+ 0x40] {
                var corrupt = bytes
                corrupt[index] = value
                do {
                    _ = try ONNXModel(bytes: corrupt)
                } catch is ModelError {
                } catch {
                    XCTFail("byte \(index) set to \(value): \(error) is not a ModelError")
                }
            }
        }
    }

    func testErrorsNameTheFileAndPlace() throws {
        let bytes = Self.tinyModel()
        let path = directory.appendingPathComponent("model.onnx").path
        // ir_version (2 bytes), producer name (15) and version (5): the graph's length varint is at 23.
        try Data(bytes[..<100]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ONNXModel.load(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): truncated protobuf at byte 23 (field 7 of ModelProto)")
        }
        XCTAssertThrowsError(try ONNXModel.load(path: directory.appendingPathComponent("absent.onnx").path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("absent.onnx: no such file"), "\(error)")
        }
        XCTAssertThrowsError(try ONNXModel.load(path: directory.path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("is a directory, not an ONNX file"), "\(error)")
        }
        XCTAssertThrowsError(try ONNXModel(bytes: [], source: "empty.onnx")) { error in
            XCTAssertEqual("\(error)", "empty.onnx: not an ONNX model (no graph)")
        }
        let mismatch = ONNXTestProto.model { g in
            g.message(5, ONNXTestProto.tensor(name: "W", type: 1, dims: [2, 3]) { t in t.packedFloats(4, [1, 2]) })
        }
        XCTAssertThrowsError(try ONNXModel(bytes: mismatch, source: "m.onnx")) { error in
            XCTAssertEqual("\(error)", "m.onnx: tensor 'W' (FLOAT [2, 3]): 2 values in float_data, 6 expected")
        }
        let shortRaw = ONNXTestProto.model { g in
            g.message(5, ONNXTestProto.tensor(name: "W", type: 1, dims: [4]) { t in t.bytes(9, [0, 0, 0]) })
        }
        XCTAssertThrowsError(try ONNXModel(bytes: shortRaw, source: "m.onnx")) { error in
            XCTAssertEqual("\(error)", "m.onnx: tensor 'W' (FLOAT [4]): 3 bytes of data, 16 expected")
        }
        // Huge dims with no data are refused before anything is allocated.
        let huge = ONNXTestProto.model { g in
            g.message(5, ONNXTestProto.tensor(name: "H", type: 1, dims: [1 << 40, 1 << 20]) { t in t.bytes(9, []) })
        }
        XCTAssertThrowsError(try ONNXModel(bytes: huge, source: "m.onnx")) { error in
            XCTAssertEqual("\(error)", "m.onnx: tensor 'H' (FLOAT [1099511627776, 1048576]): too many elements")
        }
    }

    // MARK: Tensor element types

    private func decodeTensor(type: Int, dims: [Int64], _ data: @escaping (inout ProtobufTestEncoder) -> Void) throws -> ONNXTensor {
        let bytes = ONNXTestProto.model { g in g.message(5, ONNXTestProto.tensor(name: "t", type: type, dims: dims, data)) }
        return try XCTUnwrap(ONNXModel(bytes: bytes).graph.initializers.first)
    }

    func testElementTypesFromRawAndTypedFields() throws {
        // float16: 1, -2, 65504, smallest subnormal, -0, inf.
        let halves: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00]
        let half = try decodeTensor(type: 10, dims: [6]) { t in
            t.bytes(9, halves.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        }
        XCTAssertEqual(half.storage, .float16(halves))
        let widened = try XCTUnwrap(half.floatValues())
        XCTAssertEqual(Array(widened[0..<4]), [1, -2, 65504, 0x1p-24])
        XCTAssertEqual(widened[4].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(widened[5], .infinity)
        XCTAssertEqual(try decodeTensor(type: 10, dims: [2]) { t in t.packedVarints(5, [0x3C00, 0x3800]) }.floatValues(), [1, 0.5])
        XCTAssertEqual(try decodeTensor(type: 16, dims: [1]) { t in t.int(5, 0x3FC0) }.floatValues(), [1.5])

        XCTAssertEqual(try decodeTensor(type: 9, dims: [3]) { t in t.bytes(9, [1, 0, 7]) }.storage, .bool([true, false, true]))
        XCTAssertEqual(try decodeTensor(type: 9, dims: [2]) { t in t.packedVarints(5, [0, 1]) }.storage, .bool([false, true]))
        XCTAssertEqual(try decodeTensor(type: 2, dims: [2, 2]) { t in t.packedVarints(5, [0, 1, 254, 255]) }.storage,
                       .uint8([0, 1, 254, 255]))
        XCTAssertEqual(try decodeTensor(type: 3, dims: [2]) { t in t.bytes(9, [0xFF, 0x7F]) }.storage, .int8([-1, 127]))
        XCTAssertEqual(try decodeTensor(type: 3, dims: [2]) { t in t.int(5, -128); t.int(5, 5) }.storage, .int8([-128, 5]))
        XCTAssertEqual(try decodeTensor(type: 5, dims: [1]) { t in t.int(5, -300) }.storage, .int16([-300]))
        XCTAssertEqual(try decodeTensor(type: 6, dims: [2]) { t in t.bytes(9, [1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF]) }.storage,
                       .int32([1, -2]))
        XCTAssertEqual(try decodeTensor(type: 12, dims: [2]) { t in t.packedVarints(11, [7, 4_000_000_000]) }.storage,
                       .uint32([7, 4_000_000_000]))
        XCTAssertEqual(try decodeTensor(type: 13, dims: [1]) { t in t.varint(11, UInt64.max) }.storage, .uint64([UInt64.max]))
        XCTAssertNil(try decodeTensor(type: 13, dims: [1]) { t in t.varint(11, UInt64.max) }.int64Values())
        XCTAssertEqual(try decodeTensor(type: 11, dims: [2]) { t in t.packedDoubles(10, [0.25, -1e-300]) }.storage,
                       .double([0.25, -1e-300]))
        XCTAssertEqual(try decodeTensor(type: 14, dims: [1]) { t in t.packedFloats(4, [1, 2]) }.storage, .complex64([1, 2]))
        XCTAssertEqual(try decodeTensor(type: 8, dims: [2]) { t in t.string(6, "a"); t.string(6, "β") }.storage,
                       .string(["a", "β"]))
        // A scalar (no dims) and an empty tensor.
        XCTAssertEqual(try decodeTensor(type: 7, dims: []) { t in t.bytes(9, [5, 0, 0, 0, 0, 0, 0, 0]) }.storage, .int64([5]))
        XCTAssertEqual(try decodeTensor(type: 1, dims: [0, 3]) { _ in }.storage, .float([]))
        // 4-bit and 2-bit values are packed low bits first, in raw_data and in int32_data alike.
        XCTAssertEqual(try decodeTensor(type: 22, dims: [3]) { t in t.bytes(9, [0xF1, 0x08]) }.storage, .codes([1, 15, 8]))
        XCTAssertEqual(try decodeTensor(type: 21, dims: [3]) { t in t.packedVarints(5, [0x21, 0x03]) }.storage, .codes([1, 2, 3]))
        XCTAssertEqual(try decodeTensor(type: 25, dims: [5]) { t in t.bytes(9, [0b1110_0100, 0b01]) }.storage,
                       .codes([0, 1, 2, 3, 1]))
        XCTAssertEqual(try decodeTensor(type: 17, dims: [2]) { t in t.bytes(9, [0x38, 0xB8]) }.storage, .codes([0x38, 0xB8]))
    }

    func testStandaloneTensorFile() throws {
        var e = ProtobufTestEncoder()
        ONNXTestProto.tensor(name: "input", type: 1, dims: [1, 2]) { t in t.bytes(9, ONNXTestProto.rawFloats([3, 4])) }(&e)
        let path = directory.appendingPathComponent("input_0.pb").path
        try Data(e.bytes).write(to: URL(fileURLWithPath: path))
        let tensor = try ONNXTensor.load(path: path)
        XCTAssertEqual(tensor, ONNXTensor(name: "input", dataType: .float, dims: [1, 2], storage: .float([3, 4])))
        XCTAssertEqual(tensor.count, 2)
    }

    // MARK: External data

    private func externalModel(_ entries: [(String, String)], type: Int = 1, dims: [Int64] = [3]) -> [UInt8] {
        ONNXTestProto.model { g in
            g.message(5, ONNXTestProto.tensor(name: "W", type: type, dims: dims) { t in
                for (key, value) in entries { t.message(13, ONNXTestProto.stringPair(key, value)) }
                t.int(14, 1)
            })
        }
    }

    private func writeModel(_ bytes: [UInt8], in folder: URL) throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("model.onnx").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testExternalDataResolvedBesideTheModel() throws {
        let folder = directory.appendingPathComponent("m")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        let payload = [UInt8](repeating: 0xAA, count: 8) + ONNXTestProto.rawFloats([1.5, 2.5, -3]) + [9, 0, 0, 0, 0, 0, 0, 0]
        try Data(payload).write(to: folder.appendingPathComponent("data/weights.bin"))
        let bytes = ONNXTestProto.model { g in
            g.message(5, ONNXTestProto.tensor(name: "W", type: 1, dims: [3]) { t in
                t.message(13, ONNXTestProto.stringPair("location", "data/weights.bin"))
                t.message(13, ONNXTestProto.stringPair("offset", "8"))
                t.message(13, ONNXTestProto.stringPair("length", "12"))
                t.int(14, 1)
            })
            // No length: the rest of the file from the offset.
            g.message(5, ONNXTestProto.tensor(name: "n", type: 7, dims: [1]) { t in
                t.message(13, ONNXTestProto.stringPair("location", "./data/weights.bin"))
                t.message(13, ONNXTestProto.stringPair("offset", "20"))
                t.int(14, 1)
            })
        }
        let model = try ONNXModel.load(path: try writeModel(bytes, in: folder))
        XCTAssertEqual(model.graph.initializers.map(\.storage), [.float([1.5, 2.5, -3]), .int64([9])])

        XCTAssertThrowsError(try ONNXModel(bytes: bytes, source: "mem")) { error in
            XCTAssertTrue("\(error)".contains("needs the model's folder"), "\(error)")
        }
    }

    func testExternalDataOutsideTheModelFolderIsRefused() throws {
        let folder = directory.appendingPathComponent("m")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let outside = directory.appendingPathComponent("secret.bin")
        try Data(ONNXTestProto.rawFloats([1, 2, 3])).write(to: outside)
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("link.bin"), withDestinationURL: outside)

        for location in ["../secret.bin", "sub/../../secret.bin", outside.path, "link.bin", "..\\secret.bin"] {
            let path = try writeModel(externalModel([("location", location)]), in: folder)
            XCTAssertThrowsError(try ONNXModel.load(path: path), location) { error in
                XCTAssertEqual("\(error)", "\(path): tensor 'W' (FLOAT [3]): external data '\(location)' escapes the model folder")
            }
        }
    }

    func testExternalDataBoundsAreChecked() throws {
        let folder = directory.appendingPathComponent("m")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(ONNXTestProto.rawFloats([1, 2, 3])).write(to: folder.appendingPathComponent("w.bin"))
        let cases: [([(String, String)], String)] = [
            ([("location", "w.bin"), ("offset", "13")], "external data offset 13 is past the end of 'w.bin' (12 bytes)"),
            ([("location", "w.bin"), ("offset", "4"), ("length", "12")],
             "external data offset 4 + length 12 is past the end of 'w.bin' (12 bytes)"),
            ([("location", "w.bin"), ("offset", "-1")], "external data offset '-1' is not a byte count"),
            ([("location", "w.bin"), ("length", "99999999999999999999")],
             "external data length '99999999999999999999' is not a byte count"),
            ([("location", "w.bin"), ("offset", "4")], "8 bytes of data, 12 expected"),
            ([("location", "absent.bin")], "external data file 'absent.bin' not found"),
            ([("offset", "0")], "external data without a location"),
        ]
        for (entries, expected) in cases {
            let path = try writeModel(externalModel(entries), in: folder)
            XCTAssertThrowsError(try ONNXModel.load(path: path)) { error in
                XCTAssertTrue("\(error)".hasSuffix(expected), "\(error) does not end with \(expected)")
            }
        }
    }

    // MARK: Metadata

    func testTileRunMetadata() throws {
        let metadata = try ModelMetadata(properties: [
            "tilerun.classes": ##"[{"value": 2, "name": "damaged", "color": "#FF8000"}, {"value": 0, "name": "background"}]"##,
            "tilerun.bands": "3,2,1",
            "tilerun.normalization.scale": "1/255",
            "tilerun.normalization.mean": "0.485, 0.456, 0.406",
            "tilerun.normalization.std": "[0.229, 0.224, 0.225]",
            "tilerun.tile_size": "512",
            "tilerun.tile_overlap": "64",
            "tilerun.input_kind": "pre-post",
            "tilerun.resolution_m": "0.5",
            "license": "CC-BY-4.0",
        ])
        XCTAssertEqual(metadata.classes, [ModelMetadata.ModelClass(value: 0, name: "background"),
                                          ModelMetadata.ModelClass(value: 2, name: "damaged",
                                                                   color: PaletteColor(red: 255, green: 128, blue: 0))])
        XCTAssertEqual(metadata.bands, [3, 2, 1])
        let normalization = try XCTUnwrap(metadata.normalization)
        XCTAssertEqual(normalization.scale, 1.0 / 255)
        XCTAssertEqual(normalization.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(normalization.std, [0.229, 0.224, 0.225])
        let affine = normalization.affine(channel: 1)
        XCTAssertEqual(255 * affine.multiply + affine.add, (1 - 0.456) / 0.224, accuracy: 1e-12)
        XCTAssertEqual(metadata.tileSize, 512)
        XCTAssertEqual(metadata.tileOverlap, .pixels(64))
        XCTAssertEqual(metadata.inputKind, .prePost)
        XCTAssertEqual(metadata.resolutionMeters, 0.5)
        XCTAssertEqual(metadata.raw["license"], "CC-BY-4.0")
        XCTAssertEqual(metadata.raw.count, 10)

        let empty = try ModelMetadata(properties: [:])
        XCTAssertNil(empty.classes)
        XCTAssertNil(empty.normalization)
        XCTAssertNil(empty.tileSize)
        XCTAssertNil(empty.inputKind)
    }

    func testDeepnessMetadata() throws {
        // As Deepness's documentation writes it: json.dumps of each value.
        let json = try ModelMetadata(properties: [
            "model_type": #""Segmentor""#,
            "class_names": #"{"0": "_background", "1": "building", "2": "woodland"}"#,
            "resolution": "50",
            "tiles_size": "256",
            "tiles_overlap": "25",
            "standardization_mean": "[0.5, 0.5, 0.5]",
            "standardization_std": "[0.25, 0.25, 0.25]",
            "seg_thresh": "0.5",
        ])
        XCTAssertEqual(json.classes?.map(\.name), ["_background", "building", "woodland"])
        XCTAssertEqual(json.classes?.map(\.value), [0, 1, 2])
        XCTAssertEqual(json.resolutionMeters, 0.5)
        XCTAssertEqual(json.tileSize, 256)
        XCTAssertEqual(json.tileOverlap, .percent(25))
        XCTAssertEqual(json.tileOverlap?.pixels(tileSize: 256), 64)
        XCTAssertEqual(json.normalization, ModelMetadata.Normalization(scale: 1.0 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]))
        XCTAssertEqual(json.raw["seg_thresh"], "0.5")

        // Python's str(dict) form, the older `names` key, a list with one dict per output, `tile_size`.
        let python = try ModelMetadata(properties: ["names": "[{0: 'bg', 1: \"water\",}, {0: 'other'}]", "tile_size": "\"128\""])
        XCTAssertEqual(python.classes?.map(\.name), ["bg", "water"])
        XCTAssertEqual(python.tileSize, 128)
    }

    func testTileRunKeysWinOverDeepness() throws {
        let metadata = try ModelMetadata(properties: [
            "class_names": "{0: 'a', 1: 'b'}",
            "tilerun.classes": #"[{"value": 0, "name": "land"}, {"value": 1, "name": "water"}]"#,
            "tiles_size": "256", "tilerun.tile_size": "384",
            "tiles_overlap": "10", "tilerun.tile_overlap": "32",
            "resolution": "30", "tilerun.resolution_m": "1",
            "standardization_mean": "[0.1]", "standardization_std": "[0.2]",
            "tilerun.normalization.std": "50",
        ])
        XCTAssertEqual(metadata.classes?.map(\.name), ["land", "water"])
        XCTAssertEqual(metadata.tileSize, 384)
        XCTAssertEqual(metadata.tileOverlap, .pixels(32))
        XCTAssertEqual(metadata.resolutionMeters, 1)
        // Any tilerun.normalization key replaces Deepness's normalization whole: its scale is 1.
        XCTAssertEqual(metadata.normalization, ModelMetadata.Normalization(scale: 1, mean: [0], std: [50]))
    }

    func testMalformedMetadataNamesTheKey() throws {
        let cases: [([String: String], String)] = [
            (["tilerun.bands": "1,x"], "metadata 'tilerun.bands': expected 1-based band numbers such as \"1,2,3\", got '1,x'"),
            (["tilerun.bands": "0,1"], "metadata 'tilerun.bands'"),
            (["tilerun.classes": #"[{"value": 0, "name": "a"}, {"value": 0, "name": "b"}]"#], "metadata 'tilerun.classes'"),
            (["tilerun.classes": #"[{"value": 0, "name": "a", "color": "red"}]"#], "metadata 'tilerun.classes'"),
            (["tilerun.normalization.std": "1,0,1"], "metadata 'tilerun.normalization.std'"),
            (["tilerun.normalization.mean": "1,2", "tilerun.normalization.std": "1,2,3"],
             "metadata: 2 normalization means but 3 standard deviations"),
            (["tilerun.tile_size": "-5"], "metadata 'tilerun.tile_size'"),
            (["tilerun.tile_size": "256", "tilerun.tile_overlap": "256"], "metadata: tile overlap 256 is not smaller than tile size 256"),
            (["tilerun.input_kind": "pair"], "metadata 'tilerun.input_kind'"),
            (["class_names": "{'a': 'b'}"], "metadata 'class_names'"),
            (["tiles_overlap": "150"], "metadata 'tiles_overlap'"),
            (["resolution": "fine"], "metadata 'resolution'"),
        ]
        for (properties, expected) in cases {
            XCTAssertThrowsError(try ModelMetadata(properties: properties, source: "m.onnx"), "\(properties)") { error in
                XCTAssertTrue("\(error)".hasPrefix("m.onnx: " + expected), "\(error) does not start with \(expected)")
            }
        }
        // Through the model, errors name the model file.
        let model = try ONNXModel(bytes: Self.tinyModel(metadata: [("tilerun.tile_size", "big")]), source: "net.onnx")
        XCTAssertThrowsError(try model.modelMetadata()) { error in
            XCTAssertTrue("\(error)".hasPrefix("net.onnx: metadata 'tilerun.tile_size'"), "\(error)")
        }
    }

    // MARK: The ONNX project's backend node tests

    /// Every `node/*/model.onnx` of the ONNX backend tests and its tensor files load, and a known
    /// case decodes to what onnx's test generator wrote.
    func testONNXBackendNodeTestsLoad() throws {
        let node = try ONNXBackendData.nodeFolder()
        let (summaries, failures) = try ONNXBackendData.loadAll(node)
        XCTAssertGreaterThan(summaries.count, 2000)
        XCTAssertEqual(failures, [], "\(failures.count) files failed to load")

        let conv = try ONNXModel.load(path: node.appendingPathComponent("test_conv_with_strides_padding/model.onnx").path)
        XCTAssertEqual(conv.graph.nodes.count, 1)
        XCTAssertEqual(conv.graph.nodes[0].opType, "Conv")
        XCTAssertEqual(conv.graph.nodes[0].attributes["strides"], .ints([2, 2]))
        XCTAssertEqual(conv.graph.nodes[0].attributes["pads"], .ints([1, 1, 1, 1]))
        XCTAssertEqual(conv.graph.nodes[0].attributes["kernel_shape"], .ints([3, 3]))
        XCTAssertEqual(conv.graph.inputs.map(\.name), ["x", "W"])
        let x = try ONNXTensor.load(path: node.appendingPathComponent("test_conv_with_strides_padding/test_data_set_0/input_0.pb").path)
        XCTAssertEqual(x.dims, [1, 1, 7, 5])
        XCTAssertEqual(x.storage, .float((0..<35).map { Float($0) }))
        let y = try ONNXTensor.load(path: node.appendingPathComponent("test_conv_with_strides_padding/test_data_set_0/output_0.pb").path)
        XCTAssertEqual(y.dims, [1, 1, 4, 3])
        XCTAssertEqual(y.floatValues()?.first, 12)
    }

    /// Each decoded backend-test model and tensor matches what Python's onnx reads from the same file
    /// (graph summaries, and CRCs of the values); skipped where onnx is not importable.
    func testONNXBackendNodeTestsMatchPythonONNX() throws {
        let node = try ONNXBackendData.nodeFolder()
        guard let reference = ONNXBackendData.pythonSummaries(of: node) else {
            throw XCTSkip("Python's onnx is not importable: nothing to compare with")
        }
        let (summaries, _) = try ONNXBackendData.loadAll(node)
        var mismatches: [String] = []
        for (key, expected) in reference.sorted(by: { $0.key < $1.key }) where summaries[key] != expected {
            mismatches.append("\(key):\n  onnx:     \(expected.prefix(300))\n  tilerun:  \((summaries[key] ?? "missing").prefix(300))")
        }
        XCTAssertEqual(reference.count, summaries.count, "files summarized by onnx and by tilerun")
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) differ from onnx:\n" + mismatches.prefix(10).joined(separator: "\n"))
    }
}
