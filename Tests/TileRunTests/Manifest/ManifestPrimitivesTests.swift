import Foundation
@testable import TileRun
import XCTest

/// SHA-256, CRC-32 and canonical JSON: the checksums the manifest rests on.
final class ManifestPrimitivesTests: XCTestCase {
    func testSHA256MatchesKnownDigests() {
        // FIPS 180-2 examples.
        XCTAssertEqual(SHA256.hash(Data()).hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hash(Data("abc".utf8)).hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testStreamingHashEqualsWholeHashAndFileHash() throws {
        let data = Data((0..<3_000_001).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let hasher = SHA256Hasher()
        var offset = 0
        for size in [1, 63, 64, 65, 4096, 1_000_000] {
            hasher.update(data[offset..<offset + size])
            offset += size
        }
        hasher.update(data[offset...])
        XCTAssertEqual(hasher.count, Int64(data.count))
        let whole = SHA256.hash(data)
        XCTAssertEqual(hasher.finish(), whole)

        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("blob").path
        try data.write(to: URL(fileURLWithPath: path))
        let file = try SHA256.hash(fileAt: path)
        XCTAssertEqual(file.digest, whole)
        XCTAssertEqual(file.size, Int64(data.count))
        XCTAssertThrowsError(try SHA256.hash(fileAt: directory.appendingPathComponent("missing").path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("missing: cannot open to hash it: No such file or directory"), "\(error)")
        }
    }

    func testDigestHexRoundTrip() throws {
        let digest = SHA256.hash(Data("tilerun".utf8))
        XCTAssertEqual(SHA256Digest(hex: digest.hex), digest)
        XCTAssertNil(SHA256Digest(hex: "xyz"))
        XCTAssertNil(SHA256Digest(hex: String(repeating: "g", count: 64)))
        let json = try JSONEncoder().encode([digest])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), "[\"\(digest.hex)\"]")
        XCTAssertEqual(try JSONDecoder().decode([SHA256Digest].self, from: json), [digest])
    }

    func testCRC32CheckValue() {
        XCTAssertEqual(TileRun.CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(TileRun.CRC32.checksum([UInt8]()), 0)
    }

    func testCanonicalJSONIgnoresKeyOrderAndWhitespace() throws {
        let a = try JSONValue(parsing: Data(#"{"tileSize": 256, "normalization": {"std": [0.25, 0.5], "mean": [0.5, 1.0]}, "b": true, "a": null}"#.utf8))
        let b = try JSONValue(parsing: Data("{\n  \"a\":null,\"b\" : true,\n \"normalization\":{\"mean\":[0.5,1],\"std\":[0.25,0.5]},\"tileSize\":256.0}".utf8))
        XCTAssertEqual(a.canonicalText, #"{"a":null,"b":true,"normalization":{"mean":[0.5,1],"std":[0.25,0.5]},"tileSize":256}"#)
        XCTAssertEqual(a.canonicalText, b.canonicalText)
        XCTAssertEqual(a.fingerprint, b.fingerprint)
        XCTAssertEqual(a.fingerprint, SHA256.hash(Data(a.canonicalText.utf8)))
        // A changed value, or an array's order, changes the fingerprint.
        let c = try JSONValue(parsing: Data(#"{"a":null,"b":true,"normalization":{"mean":[1,0.5],"std":[0.25,0.5]},"tileSize":256}"#.utf8))
        XCTAssertNotEqual(a.fingerprint, c.fingerprint)
    }

    func testCanonicalJSONSortsByCodeUnitsAndEscapes() throws {
        let value = JSONValue.object(["b": .string("line\nquote\"slash/é\u{01}"), "B": .number(0.1), "a": .bool(false),
                                      "é": .array([.number(-0.0), .number(1e20), .number(2.5)])])
        XCTAssertEqual(value.canonicalText, #"{"B":0.1,"a":false,"b":"line\nquote\"slash/é\u0001","é":[0,1e+20,2.5]}"#)
        XCTAssertEqual(try JSONValue(parsing: Data(value.canonicalText.utf8)), value)
    }

    func testEncodableFieldsOrderDoesNotMatter() throws {
        struct First: Encodable { var tileSize = 512; var bands = [3, 2, 1] }
        struct Second: Encodable { var bands = [3, 2, 1]; var tileSize = 512 }
        XCTAssertEqual(try JSONValue(encoding: First()).fingerprint, try JSONValue(encoding: Second()).fingerprint)
    }

    func testLeavesNameNestedFields() throws {
        let value = try JSONValue(parsing: Data(#"{"normalization":{"mean":[1,2]},"tileSize":256,"empty":{}}"#.utf8))
        XCTAssertEqual(value.leaves, ["normalization.mean": "[1,2]", "tileSize": "256", "empty": "{}"])
    }
}
