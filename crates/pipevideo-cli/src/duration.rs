//! Human durations for `--timeout`: `10m`, `90s`, `1h30m`, `2.5s`, `250ms`, or bare seconds.

use std::time::Duration;

/// The longest `--timeout` accepted: a week (a wait longer than that is a mistake).
const MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Parses a human duration. Components are a number (decimals allowed) followed by a unit
/// (`ms`, `s`/`sec`, `m`/`min`, `h`/`hr`); a bare number is seconds. Zero is refused.
pub(crate) fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("a duration is required, e.g. `10m`, `90s` or `1h30m`".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return finish(secs, input);
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!(
                "`{input}` is not a duration: expected a number before `{rest}` (e.g. `10m`)"
            ));
        }
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{number}` in `{input}` is not a number"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let factor = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "" => {
                return Err(format!(
                    "`{input}` needs a unit after `{number}` (ms, s, m or h)"
                ));
            }
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{input}` (use ms, s, m or h)"
                ));
            }
        };
        total += value * factor;
        rest = next.trim_start();
    }
    finish(total, input)
}

fn finish(secs: f64, input: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{input}` must be a positive duration"));
    }
    let d = Duration::try_from_secs_f64(secs).map_err(|_| format!("`{input}` is too long"))?;
    if d > MAX {
        return Err(format!("`{input}` is longer than the 7-day maximum"));
    }
    Ok(d)
}

/// Formats a duration for people: `850 ms`, `3.1 s`, `2 min 5 s`, `1 h 2 min`.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{} ms", d.as_millis())
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        if s.is_multiple_of(60) {
            format!("{} min", s / 60)
        } else {
            format!("{} min {} s", s / 60, s % 60)
        }
    } else {
        let s = d.as_secs();
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn refuses_nonsense_with_a_reason() {
        for bad in [
            "",
            "0",
            "0s",
            "-5s",
            "abc",
            "10x",
            "m",
            "5 parsecs",
            "1e400",
            "9999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse("10x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse("9999h").unwrap_err().contains("7-day"));
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(3140)), "3.1 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
        assert_eq!(human(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(human(Duration::from_secs(3720)), "1 h 2 min");
    }
}
