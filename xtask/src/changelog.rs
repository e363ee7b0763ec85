//! CHANGELOG.md: finding the `## Unreleased` section and turning it into a release section.

use crate::{Result, bail};

/// The `## Unreleased` section of a changelog, as line indices.
#[derive(Debug, PartialEq, Eq)]
struct Section {
    /// The `## Unreleased` line.
    heading: usize,
    /// One past the last body line: the next `## ` heading, trailing link definitions or the end.
    end: usize,
}

fn is_unreleased_heading(line: &str) -> bool {
    let Some(title) = line.strip_prefix("## ") else {
        return false;
    };
    let title = title.trim();
    let title = title
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(title);
    title.eq_ignore_ascii_case("unreleased")
}

/// `[label]: https://...`, as Keep a Changelog puts at the end of the file.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]: ")
}

fn find_unreleased(lines: &[&str]) -> Result<Section> {
    let mut in_fence = false;
    let mut heading = None;
    for (index, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        match heading {
            None if is_unreleased_heading(line) => heading = Some(index),
            Some(heading) if line.starts_with("## ") => {
                return Ok(Section {
                    heading,
                    end: index,
                });
            }
            _ => {}
        }
    }
    let Some(heading) = heading else {
        bail!("CHANGELOG.md has no `## Unreleased` heading");
    };
    // The last section: stop before the link definitions that close the file.
    let mut end = lines.len();
    while end > heading + 1
        && (lines[end - 1].trim().is_empty() || is_link_definition(lines[end - 1]))
    {
        end -= 1;
    }
    Ok(Section { heading, end })
}

/// The body of `## Unreleased`, without surrounding blank lines.
pub(crate) fn unreleased_notes(text: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let section = find_unreleased(&lines)?;
    Ok(lines[section.heading + 1..section.end]
        .join("\n")
        .trim_matches('\n')
        .trim_end()
        .to_owned())
}

/// Whether notes say nothing: only blank lines, sub-headings (`### Added`) or HTML comments.
pub(crate) fn is_empty(notes: &str) -> bool {
    let mut in_comment = false;
    for line in notes.lines().map(str::trim) {
        if in_comment {
            in_comment = !line.contains("-->");
            continue;
        }
        if line.starts_with("<!--") {
            in_comment = !line.contains("-->");
            continue;
        }
        if !(line.is_empty() || line.starts_with('#')) {
            return false;
        }
    }
    true
}

/// The changelog with the `## Unreleased` notes moved under `## {version} — {date}`, and a fresh,
/// empty `## Unreleased` above it. Everything else is kept byte for byte.
pub(crate) fn cut_release(text: &str, version: &str, date: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let section = find_unreleased(&lines)?;
    let notes = unreleased_notes(text)?;
    if is_empty(&notes) {
        bail!("CHANGELOG.md's `## Unreleased` section is empty");
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in &lines[..=section.heading] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("\n## {version} — {date}\n\n{notes}\n"));
    let rest: Vec<&str> = lines[section.end..]
        .iter()
        .copied()
        .skip_while(|line| line.trim().is_empty())
        .collect();
    if !rest.is_empty() {
        out.push('\n');
        for line in &rest {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !text.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
# Changelog

Intro text.

## Unreleased

### Added
- Retries honour `Retry-After`.

## 0.1.0 — 2026-11-01

- First release.
";

    #[test]
    fn cut_release_moves_the_notes_and_leaves_an_empty_unreleased() {
        let cut = cut_release(LOG, "0.2.0", "2026-11-25").unwrap();
        assert_eq!(
            cut,
            "\
# Changelog

Intro text.

## Unreleased

## 0.2.0 — 2026-11-25

### Added
- Retries honour `Retry-After`.

## 0.1.0 — 2026-11-01

- First release.
"
        );
        assert!(is_empty(&unreleased_notes(&cut).unwrap()));
        assert!(cut_release(&cut, "0.2.1", "2026-11-26").is_err());
    }

    #[test]
    fn last_section_keeps_link_definitions_at_the_end() {
        let log = "## [Unreleased]\n\n- Fix.\n\n[Unreleased]: https://example.invalid/compare\n";
        let cut = cut_release(log, "1.0.0", "2027-01-02").unwrap();
        assert_eq!(
            cut,
            "## [Unreleased]\n\n## 1.0.0 — 2027-01-02\n\n- Fix.\n\n[Unreleased]: https://example.invalid/compare\n"
        );
    }

    #[test]
    fn headings_inside_code_fences_do_not_end_the_section() {
        let log = "## Unreleased\n\n```md\n## Not a heading\n```\n\n## 0.1.0\n";
        let notes = unreleased_notes(log).unwrap();
        assert_eq!(notes, "```md\n## Not a heading\n```");
    }

    #[test]
    fn empty_means_nothing_but_headings_comments_and_blanks() {
        assert!(is_empty(""));
        assert!(is_empty("\n### Added\n\n### Fixed\n"));
        assert!(is_empty("<!-- write here\n  more -->\n"));
        assert!(!is_empty("### Fixed\n- A bug."));
        assert!(!is_empty("Plain text counts."));
    }

    #[test]
    fn missing_heading_is_a_clear_error() {
        let error = unreleased_notes("# Changelog\n\n## 0.1.0\n").unwrap_err();
        assert!(error.to_string().contains("no `## Unreleased` heading"));
    }

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(today().len(), 10);
    }
}
