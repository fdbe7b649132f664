"""Demo data for people: the courses each job type requires, the technicians' training records (most
held, some expiring within 30 days, a couple expired, one failed, some missing) and, where evidence
exists already, a few rewards and penalties linked to it. Called by the demo seed; safe to run twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.inventory.models import Condition, Movement
from backend.quality.models import (
    Evaluation,
    Incentive,
    IncentiveEvidence,
    IncentiveKind,
    RequiredTraining,
    TrainingCategory,
    TrainingRecord,
)
from backend.quality.people.services import ANY_JOB_TYPE

INSTALL = "ATM installation & commissioning"
CASH = "Safe handling of cash equipment"
MAINTENANCE = "ATM preventive maintenance L1"
REPAIR = "ATM repair L2"
ETIQUETTE = "Customer service etiquette"

REQUIREMENTS = [
    ("install", INSTALL, TrainingCategory.technical),
    ("install", CASH, TrainingCategory.functional),
    ("maintenance", MAINTENANCE, TrainingCategory.technical),
    ("inspection", MAINTENANCE, TrainingCategory.technical),
    ("repair", REPAIR, TrainingCategory.technical),
    ("repair", CASH, TrainingCategory.functional),
    (ANY_JOB_TYPE, ETIQUETTE, TrainingCategory.functional),
]
CATEGORY = {course: category for _, course, category in REQUIREMENTS}


def _plan(index: int, count: int, today: date) -> list[tuple[str, date, bool, int | None, date | None]]:
    """The records of the ``index``-th technician: (course, completed_on, passed, score, expires_on)."""
    records = []

    def held(course: str, months_ago: int, valid_years: int = 2, score: int = 85) -> None:
        done = today - timedelta(days=30 * months_ago + 3 * index)
        records.append((course, done, True, score, done + timedelta(days=365 * valid_years)))

    if index != count - 1:  # the newest hire has not done the etiquette course yet
        held(ETIQUETTE, 6 + index, score=80 + index)
    if index == 3:  # lapsed: the maintenance certificate expired 40 days ago
        done = today - timedelta(days=3 * 365 + 40)
        records.append((MAINTENANCE, done, True, 78, done + timedelta(days=3 * 365)))
    else:
        held(MAINTENANCE, 10 + index, valid_years=3, score=88)
    if index == 5:  # failed the repair course; retake pending
        records.append((REPAIR, today - timedelta(days=45), False, 52, None))
    elif index < 8:
        held(REPAIR, 8 + index, score=82)
    if index in (0, 1, 4, 5, 8, 9):
        if index == 9:  # expiring soon: 12 days left
            done = today - timedelta(days=365 * 2 - 12)
            records.append((INSTALL, done, True, 90, done + timedelta(days=365 * 2)))
        else:
            held(INSTALL, 4 + index)
    if index in (0, 1, 4, 8):
        if index == 1:  # expiring in 20 days
            done = today - timedelta(days=365 - 20)
            records.append((CASH, done, True, None, done + timedelta(days=365)))
        elif index == 8:  # expired 10 days ago
            done = today - timedelta(days=365 + 10)
            records.append((CASH, done, True, None, done + timedelta(days=365)))
        else:
            held(CASH, 3, valid_years=1)
    return records


async def seed_people_demo(
    session: AsyncSession, quality_user_id: UUID, technician_ids: Sequence[UUID], today: date
) -> dict[str, int]:
    """Required trainings, training records and evidence-linked incentives for the demo company.
    Adds only what is not there yet; the caller commits (after settling events)."""
    made = {"required": 0, "trainings": 0, "incentives": 0}
    existing = {(r.job_type, r.course) for r in await session.scalars(select(RequiredTraining))}
    for job_type, course, category in REQUIREMENTS:
        if (job_type, course) not in existing:
            session.add(RequiredTraining(job_type=job_type, course=course, category=str(category)))
            made["required"] += 1
    technicians = list(technician_ids)
    trained = set(
        await session.scalars(
            select(TrainingRecord.user_id).where(TrainingRecord.user_id.in_(technicians)).distinct()
        )
    )
    for index, user_id in enumerate(technicians):
        if user_id in trained:
            continue
        for course, completed_on, passed, score, expires_on in _plan(index, len(technicians), today):
            session.add(
                TrainingRecord(
                    user_id=user_id,
                    category=str(CATEGORY[course]),
                    course=course,
                    completed_on=completed_on,
                    passed=passed,
                    score=score,
                    expires_on=expires_on,
                    notes="" if passed else "retake scheduled",
                    recorded_by_id=quality_user_id,
                )
            )
            made["trainings"] += 1
    made["incentives"] = await _seed_incentives(session, quality_user_id, technicians)
    await session.flush()
    return made


async def _seed_incentives(session: AsyncSession, quality_user_id: UUID, technicians: list[UUID]) -> int:
    """Rewards for top-rated jobs, penalties for the worst-rated and for lost custody, when the store
    already holds that evidence (the seed's jobs and returns ran first); nothing otherwise."""
    if not technicians:
        return 0
    linked = set(
        await session.scalars(select(Incentive.evidence_id).where(Incentive.evidence_id.is_not(None)))
    )
    plans: list[Incentive] = []
    evaluations = await session.scalars(
        select(Evaluation)
        .where(Evaluation.technician_id.in_(technicians), Evaluation.overall.is_not(None))
        .order_by(Evaluation.evaluated_at, Evaluation.id)
    )
    best, worst = [], []
    for evaluation in evaluations:
        if evaluation.overall >= 5 and len(best) < 3:
            best.append(evaluation)
        elif evaluation.overall <= 2 and len(worst) < 2:
            worst.append(evaluation)
    for evaluation in best:
        plans.append(
            Incentive(
                user_id=evaluation.technician_id,
                kind=IncentiveKind.reward,
                points=10,
                reason="Five stars from the customer, technical and service quality",
                evidence_type=IncentiveEvidence.evaluation,
                evidence_id=evaluation.id,
                awarded_by_id=quality_user_id,
            )
        )
    for evaluation in worst:
        plans.append(
            Incentive(
                user_id=evaluation.technician_id,
                kind=IncentiveKind.penalty,
                points=-5,
                reason="Customer rated the visit poorly; see the evaluation's comment",
                evidence_type=IncentiveEvidence.evaluation,
                evidence_id=evaluation.id,
                awarded_by_id=quality_user_id,
            )
        )
    losses = await session.scalars(
        select(Movement)
        .where(Movement.condition == Condition.lost, Movement.custodian_id.in_(technicians))
        .order_by(Movement.recorded_at, Movement.id)
        .limit(2)
    )
    for movement in losses:
        plans.append(
            Incentive(
                user_id=movement.custodian_id,
                kind=IncentiveKind.penalty,
                points=-20,
                amount_cents=-20000,
                currency="CNY",
                reason="Tool lost from custody; replacement cost shared",
                evidence_type=IncentiveEvidence.custody_loss,
                evidence_id=movement.id,
                awarded_by_id=quality_user_id,
            )
        )
    fresh = [p for p in plans if p.evidence_id not in linked]
    session.add_all(fresh)
    return len(fresh)
