"""Learners: enrolment, profiles and rectification (``service``), the tenant's learner list with names
(``lists``), and a learner's stored items as the API shows them (``records``)."""
