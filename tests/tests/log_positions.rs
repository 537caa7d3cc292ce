//! Every log macro in statement and expression position, inside and outside
//! an instrumented function (issue 13, D11). `tests/max_level_off` holds the
//! same shapes and is built with the macros stripped (`stripping.rs`).

// The expression positions are the point.
#![allow(clippy::semicolon_if_nothing_returned, clippy::single_match_else)]

use alamos_tests::capture;

fn outside(x: u32) {
    alamos::bench!("statement");
    alamos::debug!("statement");
    alamos::prod!("statement");
    alamos::info!("statement");
    alamos::warn!("statement");
    alamos::error!("statement");
    let closures: [fn(); 6] = [
        || alamos::bench!("closure"),
        || alamos::debug!("closure"),
        || alamos::prod!("closure"),
        || alamos::info!("closure"),
        || alamos::warn!("closure"),
        || alamos::error!("closure"),
    ];
    for closure in closures {
        closure();
    }
    match x {
        0 => alamos::bench!("arm"),
        1 => alamos::debug!("arm"),
        2 => alamos::prod!("arm"),
        3 => alamos::info!("arm"),
        4 => alamos::warn!("arm"),
        _ => alamos::error!("arm"),
    }
    let () = if x == 0 {
        alamos::warn!("value")
    } else {
        alamos::error!("value")
    };
}

#[alamos::experiment("log_positions.inside", level = bench)]
fn inside(x: u32) {
    let f = || alamos::info!(x, "closure");
    f();
    match x {
        0 => alamos::debug!("zero"),
        _ => alamos::warn!("other"),
    }
}

#[test]
fn log_macros_work_in_statement_and_expression_position() {
    alamos::set_directives("bench").unwrap();
    let ((), captured) = capture(|| {
        outside(5);
        inside(0);
        inside(1);
    });
    let messages = |experiment: &str| {
        captured
            .events()
            .into_iter()
            .filter(|event| event.field("alamos.experiment") == Some(experiment))
            .filter_map(|event| event.field("message").map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let outside = messages("");
    assert_eq!(outside.len(), 14, "{outside:?}");
    assert_eq!(
        outside.iter().filter(|m| *m == "closure").count(),
        6,
        "{outside:?}"
    );
    assert_eq!(
        messages("log_positions.inside"),
        ["closure", "zero", "closure", "other"]
    );
}
