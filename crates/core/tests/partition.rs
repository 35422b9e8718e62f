//! Partition plans against the simulator: every member of the query in
//! exactly one partition (checked against the simulator's own reading of
//! the filters), and a refusal, with the numbers, when members lack the
//! attribute.

use std::collections::HashSet;

use cxone_cdp_core::api::Client;
use cxone_cdp_core::config::Config;
use cxone_cdp_core::error::ErrorKind;
use cxone_cdp_core::filter::{AttrType, Filter, Operator, Value};
use cxone_cdp_core::partition::{plan_partitions, COVER_INCOMPLETE};
use cxone_cdp_simulator::{SimConfig, Simulator, AUDIENCE_ID, SUBSET_AUDIENCE_ID};

/// A simulator of 3,000 members (and `cfg`'s faults) and a client for it.
async fn simulator(cfg: SimConfig) -> (Simulator, Client) {
    let sim = Simulator::start(
        SimConfig {
            members: 3_000,
            ..cfg
        },
        0,
    )
    .await
    .unwrap();
    let client = Client::new(Config::new(sim.base_url(), "sim-client", "sim-secret")).unwrap();
    (sim, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_cover_the_simulators_audiences_exactly() {
    let (sim, client) = simulator(SimConfig::default()).await;
    let schema = cxone_cdp_simulator::data::schema();
    let ids = |filters: &[Filter], aud: &str| -> Vec<String> {
        let wire: Vec<String> = filters
            .iter()
            .map(|f| {
                let ty = schema
                    .get(&f.attribute)
                    .and_then(|t| AttrType::parse(t.name()));
                f.wire(ty).unwrap()
            })
            .collect();
        let refs: Vec<&str> = wire.iter().map(String::as_str).collect();
        sim.expected_members(aud, &refs)
            .unwrap()
            .iter()
            .map(|m| m["memberId"].as_str().unwrap().to_string())
            .collect()
    };
    let vip = [Filter::new("is_vip", Operator::Eq, Value::Bool(false))];
    for (aud, by, base) in [
        (AUDIENCE_ID, "lifetime_value", &[][..]),
        (AUDIENCE_ID, "last_purchase_date", &[][..]),
        (AUDIENCE_ID, "city", &vip[..]),
        (SUBSET_AUDIENCE_ID, "lifecycle_stage", &[][..]),
    ] {
        let plan = plan_partitions(&client, aud, base, by, 6).await.unwrap();
        let all = ids(base, aud);
        assert_eq!(plan.total, all.len() as u64);
        let mut seen = HashSet::new();
        for p in &plan.partitions {
            let part = ids(&p.filters, aud);
            assert_eq!(part.len() as u64, p.expected_count, "{by} {}", p.index);
            for id in part {
                assert!(seen.insert(id), "{by}: a member in two partitions");
            }
        }
        assert_eq!(seen, all.into_iter().collect::<HashSet<_>>(), "{by}");
        assert!(plan.partitions.len() >= 5, "{by}: {:?}", plan.boundaries);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_lacking_the_attribute_are_refused_with_the_numbers() {
    let (_sim, client) = simulator(SimConfig {
        missing_attribute_every: Some(100),
        ..SimConfig::default()
    })
    .await;
    let e = plan_partitions(&client, AUDIENCE_ID, &[], "lifetime_value", 4)
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some(COVER_INCOMPLETE));
    assert!(
        e.message.contains("2970") && e.message.contains("30 lack"),
        "{}",
        e.message
    );
    assert!(plan_partitions(&client, AUDIENCE_ID, &[], "city", 4)
        .await
        .is_ok());
    let e = plan_partitions(&client, AUDIENCE_ID, &[], "is_vip", 4)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Validation);
    let e = plan_partitions(&client, AUDIENCE_ID, &[], "nope", 4)
        .await
        .unwrap_err();
    assert!(e.message.contains("not found"));
}
