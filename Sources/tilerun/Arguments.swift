/// A command line split into positionals, boolean flags and valued options (`--name value` or `--name=value`).
struct Arguments {
    var positionals: [String] = []
    var flags: Set<String> = []
    var options: [String: String] = [:]

    /// Parses `words` against the flags and options a command accepts; anything else is a usage error.
    init(_ words: [String], flags knownFlags: Set<String>, options knownOptions: Set<String>) throws {
        var i = 0
        var onlyPositionals = false
        while i < words.count {
            let word = words[i]
            i += 1
            if onlyPositionals || !word.hasPrefix("-") || word == "-" {
                positionals.append(word)
                continue
            }
            if word == "--" {
                onlyPositionals = true
                continue
            }
            var name = word
            var value: String?
            if let eq = word.firstIndex(of: "=") {
                name = String(word[..<eq])
                value = String(word[word.index(after: eq)...])
            }
            if knownFlags.contains(name) {
                guard value == nil else { throw UsageError("\(name) takes no value") }
                flags.insert(name)
            } else if knownOptions.contains(name) {
                if value == nil {
                    guard i < words.count else { throw UsageError("\(name) needs a value") }
                    value = words[i]
                    i += 1
                }
                options[name] = value
            } else {
                throw UsageError("unknown option \(name)")
            }
        }
    }
}

/// A mistake in how the command was called: reported with the usage line, exit code 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
