"""学时登记: hours earned elsewhere, claimed by the learner with evidence and reviewed before they count."""
