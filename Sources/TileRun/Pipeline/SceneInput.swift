import Foundation

/// One unit of work: a scene file, or a pre-event and a post-event scene on one grid for models that
/// take both (building damage).
public struct SceneInput: Hashable, Sendable, CustomStringConvertible {
    /// What the outputs are named after (`NAME-classes.tif`).
    public var name: String
    /// The scene file, or the pre-event then the post-event file.
    public var files: [String]

    /// A single scene, named after its file.
    public init(file: String) {
        name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        files = [file]
    }

    /// A pre/post pair named `name`.
    public init(name: String, pre: String, post: String) {
        self.name = name
        files = [pre, post]
    }

    public var isPair: Bool { files.count == 2 }
    public var description: String { files.joined(separator: " + ") }
}

/// Matches pre-event and post-event files into pairs by name: `a-pre.tif` goes with `a-post.tif`
/// (the pattern's words, standing between `-`, `_`, `.` or the ends of the file name; case is ignored).
/// The pair is named after the file name without the word (`a`), or after the folder when nothing is
/// left (`joplin/pre.tif` + `joplin/post.tif` → `joplin`).
public enum ScenePairing {
    /// The pairs found among `paths` plus the `explicit` ones, and one problem line per file left unpaired.
    public static func pairs(_ paths: [String], explicit: [PipelineFile.Pair] = [],
                             pattern: PipelineFile.PairPattern = .init()) -> (scenes: [SceneInput], problems: [String]) {
        var scenes = explicit.map { SceneInput(name: pairName(stem(of: $0.pre), word: pattern.pre, folder: $0.pre) ?? stem(of: $0.pre),
                                               pre: $0.pre, post: $0.post) }
        var problems: [String] = []
        let taken = Set(explicit.flatMap { [$0.pre, $0.post] })
        var posts: [String: String] = [:]
        var pres: [(key: String, path: String)] = []
        for path in paths where !taken.contains(path) {
            let stem = stem(of: path)
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().standardized.path
            if let name = pairName(stem, word: pattern.post, folder: path) {
                let key = folder + "/" + name
                if let other = posts[key] {
                    problems.append("\(path): a second post-event scene for '\(name)' (the first is \(other))")
                } else {
                    posts[key] = path
                }
            } else if let name = pairName(stem, word: pattern.pre, folder: path) {
                pres.append((folder + "/" + name, path))
            } else {
                problems.append("\(path): not a pre- or post-event scene (its name holds neither '\(pattern.pre)' nor '\(pattern.post)' as a word)")
            }
        }
        var used = Set<String>()
        for (key, pre) in pres {
            guard let post = posts[key], !used.contains(key) else {
                problems.append("\(pre): no post-event scene matches it (expected a file named like it with '\(pattern.post)' for '\(pattern.pre)')")
                continue
            }
            used.insert(key)
            scenes.append(SceneInput(name: String(key.split(separator: "/").last ?? ""), pre: pre, post: post))
        }
        for (key, post) in posts.sorted(by: { $0.value < $1.value }) where !used.contains(key) {
            problems.append("\(post): no pre-event scene matches it (expected a file named like it with '\(pattern.pre)' for '\(pattern.post)')")
        }
        return (scenes, problems)
    }

    private static func stem(of path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    /// The file name `stem` without `word` and one delimiter beside it, or nil when `word` is not one of
    /// its words; the folder's name when nothing else is left.
    static func pairName(_ stem: String, word: String, folder path: String) -> String? {
        let delimiters: Set<Character> = ["-", "_", "."]
        let parts = splitKeepingDelimiters(stem, delimiters)
        guard let index = parts.firstIndex(where: { $0.lowercased() == word.lowercased() }) else { return nil }
        var rest = parts
        rest.remove(at: index)
        // Drop the delimiter that joined the word to the rest (the one before it, else the one after).
        if index > 0, let d = rest[index - 1].first, rest[index - 1].count == 1, delimiters.contains(d) {
            rest.remove(at: index - 1)
        } else if index < rest.count, let d = rest[index].first, rest[index].count == 1, delimiters.contains(d) {
            rest.remove(at: index)
        }
        let name = rest.joined()
        if !name.isEmpty { return name }
        let folder = URL(fileURLWithPath: path).standardized.deletingLastPathComponent().lastPathComponent
        return folder.isEmpty || folder == "/" ? word : folder
    }

    /// `a-pre_x` → `["a", "-", "pre", "_", "x"]`.
    private static func splitKeepingDelimiters(_ text: String, _ delimiters: Set<Character>) -> [String] {
        var parts: [String] = []
        var current = ""
        for c in text {
            if delimiters.contains(c) {
                if !current.isEmpty { parts.append(current) }
                parts.append(String(c))
                current = ""
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }
}
