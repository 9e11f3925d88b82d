#include "track/kalman_filter.h"

namespace posebatch::track {

KalmanFilter::KalmanFilter(int dim_x, int dim_z)
    : x(Eigen::VectorXd::Zero(dim_x)),
      P(Eigen::MatrixXd::Identity(dim_x, dim_x)),
      Q(Eigen::MatrixXd::Identity(dim_x, dim_x)),
      R(Eigen::MatrixXd::Identity(dim_z, dim_z)),
      F(Eigen::MatrixXd::Identity(dim_x, dim_x)),
      H(Eigen::MatrixXd::Zero(dim_z, dim_x)) {}

KalmanFilter KalmanFilter::ConstantVelocity(int dim) {
  KalmanFilter kf(2 * dim, dim);
  kf.F.topRightCorner(dim, dim) = Eigen::MatrixXd::Identity(dim, dim);
  kf.H.leftCols(dim) = Eigen::MatrixXd::Identity(dim, dim);
  return kf;
}

void KalmanFilter::Predict() {
  x = F * x;
  P = F * P * F.transpose() + Q;
}

void KalmanFilter::Update(const Eigen::VectorXd& z) { Update(z, H); }

void KalmanFilter::Update(const Eigen::VectorXd& z, const Eigen::MatrixXd& h) {
  const Eigen::VectorXd y = z - h * x;
  const Eigen::MatrixXd pht = P * h.transpose();
  const Eigen::MatrixXd s = h * pht + R;
  // numpy.linalg.inv: LAPACK's LU with partial pivoting (not Eigen's cofactor inverse for <= 4x4).
  const Eigen::MatrixXd s_inv = s.partialPivLu().inverse();
  const Eigen::MatrixXd k = pht * s_inv;
  x = x + k * y;
  const Eigen::MatrixXd i_kh = Eigen::MatrixXd::Identity(x.size(), x.size()) - k * h;
  P = i_kh * P * i_kh.transpose() + k * R * k.transpose();
}

}  // namespace posebatch::track
