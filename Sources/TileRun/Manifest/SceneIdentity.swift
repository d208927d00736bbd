import Foundation

/// Which input file a scene is: its absolute path (the scene's key in the manifest), size and
/// modification time from `stat`, and the SHA-256 of its content once it has been read through. A scene
/// of several files (a pre/post pair) is its first file's identity with the others' as `partners`.
public struct SceneIdentity: Codable, Hashable, Sendable {
    public var path: String
    public var size: Int64
    /// Modification time in nanoseconds since 1970 (integral, so it compares exactly after a round trip).
    public var modifiedNanoseconds: Int64
    public var sha256: SHA256Digest?
    /// The scene's other files (a pair's post-event file); nil for a scene of one file.
    public var partners: [SceneIdentity]?

    public init(path: String, size: Int64, modifiedNanoseconds: Int64, sha256: SHA256Digest? = nil, partners: [SceneIdentity]? = nil) {
        self.path = path
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.sha256 = sha256
        self.partners = partners
    }

    /// The manifest's key for the scene at `path`: absolute and standardized, so the same file named from
    /// another working directory or through `..` is the same scene.
    public static func key(for path: String) -> String { URL(fileURLWithPath: path).standardized.path }

    /// The identity of the file at `path`, with `partners` the scene's other files, now, without content
    /// hashes; throws a `ManifestError` when a file cannot be examined.
    public static func current(path: String, partners: [String] = []) throws -> SceneIdentity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ManifestError(path: path, problem: "cannot examine the scene: \(errnoText())") }
        return SceneIdentity(path: key(for: path), size: Int64(info.st_size),
                             modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                             partners: partners.isEmpty ? nil : try partners.map { try current(path: $0) })
    }

    /// This identity with the content hash of each file (for callers that do not hash while reading).
    public func hashed() throws -> SceneIdentity {
        var copy = self
        copy.sha256 = try SHA256.hash(fileAt: path).digest
        copy.partners = try partners?.map { try $0.hashed() }
        return copy
    }

    /// Same paths, sizes and modification times: by every cheap measure the same files.
    public func sameFile(as other: SceneIdentity) -> Bool {
        path == other.path && size == other.size && modifiedNanoseconds == other.modifiedNanoseconds
            && (partners ?? []).count == (other.partners ?? []).count
            && zip(partners ?? [], other.partners ?? []).allSatisfy { $0.sameFile(as: $1) }
    }
}

/// One output file as recorded when its scene is done: its name relative to the output folder, so the
/// folder can be moved, with size and SHA-256.
public struct OutputFile: Codable, Hashable, Sendable {
    public var name: String
    public var size: Int64
    public var sha256: SHA256Digest

    public init(name: String, size: Int64, sha256: SHA256Digest) {
        self.name = name
        self.size = size
        self.sha256 = sha256
    }

    /// Hashes the file at `path` and records it as `name`.
    public init(hashing path: String, name: String) throws {
        let (digest, size) = try SHA256.hash(fileAt: path)
        self.init(name: name, size: size, sha256: digest)
    }

    /// Why the file at `path` is not this output any more (missing, other size, other content), or nil
    /// when it still is.
    public func problem(at path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "output \(name) is missing" }
        guard Int64(info.st_size) == size else { return "output \(name) has \(info.st_size) bytes, the manifest recorded \(size)" }
        guard let actual = try? SHA256.hash(fileAt: path).digest else { return "output \(name) cannot be read" }
        return actual == sha256 ? nil : "output \(name) has changed since it was written (SHA-256 differs)"
    }
}
