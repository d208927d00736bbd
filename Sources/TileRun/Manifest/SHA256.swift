import CCrypto
import Foundation

/// A SHA-256 digest; encoded as 64 lowercase hex digits.
public struct SHA256Digest: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses 64 hex digits; nil for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }
    public var description: String { hex }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = SHA256Digest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 digest: \(text)"))
        }
        self = digest
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// Streaming SHA-256 (OpenSSL's libcrypto): feed bytes as they are read, then `finish()` once.
/// Used from one thread at a time.
public final class SHA256Hasher {
    private let context: OpaquePointer
    /// Bytes fed so far.
    public private(set) var count: Int64 = 0

    public init() {
        // Allocation and initialization fail only when the process is out of memory.
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("OpenSSL cannot set up a SHA-256 context")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds `bytes`.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
        count += Int64(bytes.count)
    }

    /// Feeds `data`.
    public func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed; the hasher must not be used afterwards.
    public func finish() -> SHA256Digest {
        var bytes = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &bytes, &length)
        return SHA256Digest(bytes: Array(bytes.prefix(Int(length))))
    }
}

public enum SHA256 {
    /// The digest of `data`.
    public static func hash(_ data: Data) -> SHA256Digest {
        let hasher = SHA256Hasher()
        hasher.update(data)
        return hasher.finish()
    }

    /// The digest and size of the file at `path`, read in 1 MiB blocks; throws a `ManifestError` naming
    /// the file when it cannot be read.
    public static func hash(fileAt path: String) throws -> (digest: SHA256Digest, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ManifestError(path: path, problem: "cannot open to hash it: \(errnoText())") }
        defer { close(fd) }
        let hasher = SHA256Hasher()
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { block.deallocate() }
        while true {
            let n = read(fd, block.baseAddress, block.count)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw ManifestError(path: path, problem: "cannot read to hash it: \(errnoText())")
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: block[0..<n]))
        }
        let size = hasher.count
        return (hasher.finish(), size)
    }
}
