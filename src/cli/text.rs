//! Plain-text layout for serial consoles: 80 columns, no colour, no terminal to ask for its
//! width. Pure: strings in, strings out.

/// The console width every command's output keeps to.
pub(crate) const COLUMNS: usize = 80;

/// A label longer than this gets a line of its own, so that one long label (a counter the
/// daemon reports, a person's extra field) does not squeeze every value into a narrow column.
const MAX_LABEL: usize = 24;

/// Spaces between the label column and the values.
const GAP: usize = 2;

/// `text` cut into lines of at most `width` characters, at spaces where it can be: a word
/// longer than a line (a URL, a path) is cut inside. Runs of whitespace (newlines included)
/// become one space, since a value's own line breaks cannot be kept inside a column.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        if len > 0 && len + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            len += 1 + word.len();
            continue;
        }
        if len > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        len = word.len();
        line = word.into_iter().collect();
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Rows of `label  value` within [`COLUMNS`]: the label column is as wide as the longest label
/// (up to [`MAX_LABEL`]), values wrap at word boundaries and continue under themselves; a
/// label longer than that stands on its own line with its value below, indented.
pub(crate) fn labelled(rows: &[(String, String)]) -> String {
    let widest = rows.iter().map(|(k, _)| k.chars().count()).filter(|&n| n <= MAX_LABEL).max().unwrap_or(0);
    let column = widest + GAP;
    let indent = " ".repeat(column);
    let mut out = String::new();
    for (label, value) in rows {
        let mut lines = wrap(value, COLUMNS - column).into_iter();
        let first = lines.next().unwrap_or_default();
        if label.chars().count() > MAX_LABEL {
            for part in wrap(label, COLUMNS) {
                out.push_str(&part);
                out.push('\n');
            }
            out.push_str(&format!("{indent}{first}"));
        } else {
            out.push_str(&format!("{label:<column$}{first}"));
        }
        // A short value leaves no padding behind it.
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
        for rest in lines {
            out.push_str(&format!("{indent}{rest}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_only_words_longer_than_a_line() {
        assert_eq!(
            wrap("the database is created on its first start", 20),
            ["the database is", "created on its first", "start"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("see http://example.invalid/long", 10), ["see", "http://exa", "mple.inval", "id/long"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(wrap("a\n  b", 10), ["a b"]);
        // Exactly at the width, and one past it.
        assert_eq!(wrap("abcd efgh", 9), ["abcd efgh"]);
        assert_eq!(wrap("abcd efghi", 9), ["abcd", "efghi"]);
    }

    #[test]
    fn labels_never_touch_their_values_and_lines_keep_to_80_columns() {
        let long = "word ".repeat(60);
        let text = labelled(&rows(&[
            ("device", "FG0001"),
            ("wiegand parity errors", "0"),
            ("a label much longer than the label column", "7"),
            ("last error", &long),
        ]));
        assert!(text.lines().all(|l| l.chars().count() <= COLUMNS), "{text}");
        // The column fits the longest label that is not on its own line: 21 + 2.
        assert!(text.contains("\nwiegand parity errors  0\n"), "{text}");
        assert!(text.starts_with("device                 FG0001\n"), "{text}");
        assert!(text.contains("a label much longer than the label column\n                       7\n"), "{text}");
        // Every continuation is indented under the value; no word is cut.
        let value_lines: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("last error")).collect();
        assert!(value_lines.len() > 1, "{text}");
        assert!(value_lines[1..].iter().all(|l| l.starts_with(&" ".repeat(23)) && l.trim_end().ends_with("word")));
        assert!(text.lines().all(|l| !l.ends_with(' ')), "{text}");
    }
}
